const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('protocol-crypto', __dirname);
