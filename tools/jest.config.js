const { projectJestConfig } = require('../jest.preset');

module.exports = projectJestConfig('tools', __dirname, ['<rootDir>/**/*.spec.ts']);
