const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('lease-projection', __dirname);
