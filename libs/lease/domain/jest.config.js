const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('lease-domain', __dirname);
