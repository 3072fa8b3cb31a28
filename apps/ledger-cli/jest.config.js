const { projectJestConfig } = require('../../jest.preset');

module.exports = projectJestConfig('ledger-cli', __dirname);
