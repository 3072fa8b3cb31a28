const { readdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');

/** Every project with a jest.config.js, in one run, so one summary counts every test (`npm test`). */
function projectsUnder(dir) {
  return readdirSync(join(__dirname, dir), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (existsSync(join(__dirname, path, 'jest.config.js'))) return [`<rootDir>/${path}`];
      return path.split('/').length < 3 ? projectsUnder(path) : [];
    });
}

/** @type {import('jest').Config} */
module.exports = {
  projects: [...projectsUnder('apps'), ...projectsUnder('libs'), '<rootDir>/tools'],
};
