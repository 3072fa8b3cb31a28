const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('protocol-exchange', __dirname);
