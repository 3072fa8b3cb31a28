const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('platform-logging', __dirname);
