const { projectJestConfig } = require('../../jest.preset');

module.exports = projectJestConfig('ingress', __dirname);
