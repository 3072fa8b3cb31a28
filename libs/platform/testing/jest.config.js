const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('platform-testing', __dirname);
