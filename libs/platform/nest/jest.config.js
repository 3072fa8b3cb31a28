const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('platform-nest', __dirname);
