const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('metrics-usage-history', __dirname);
