const { projectJestConfig } = require('../../jest.preset');

module.exports = projectJestConfig('lease', __dirname);
