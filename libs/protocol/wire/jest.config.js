const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('protocol-wire', __dirname);
