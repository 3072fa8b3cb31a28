const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('platform-database', __dirname);
