const { projectJestConfig } = require('../../jest.preset');

module.exports = projectJestConfig('gateway-client', __dirname);
