const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('platform-config', __dirname);
