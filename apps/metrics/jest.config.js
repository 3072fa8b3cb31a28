const { projectJestConfig } = require('../../jest.preset');

module.exports = projectJestConfig('metrics', __dirname);
