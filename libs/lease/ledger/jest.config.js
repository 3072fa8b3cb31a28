const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('lease-ledger', __dirname);
