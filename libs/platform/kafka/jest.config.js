const { projectJestConfig } = require('../../../jest.preset');

module.exports = projectJestConfig('platform-kafka', __dirname);
