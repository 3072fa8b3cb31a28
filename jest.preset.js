// @ts-check
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const workspaceRoot = __dirname;

/** Maps the tsconfig path aliases so Jest resolves libs exactly as the compiler does. */
function aliasesFromTsconfig() {
  const tsconfig = JSON.parse(readFileSync(join(workspaceRoot, 'tsconfig.base.json'), 'utf8'));
  /** @type {Record<string, string>} */
  const mapped = {};
  for (const [alias, [target]] of Object.entries(tsconfig.compilerOptions.paths)) {
    mapped[`^${alias.replace(/[/\\^$.*+?()[\]{}|-]/g, '\\$&')}$`] = join(workspaceRoot, target);
  }
  return mapped;
}

/** swc only transpiles (fast); type checking is the typecheck target's job. Decorator metadata feeds Nest DI. */
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    {
      jsc: {
        parser: { syntax: 'typescript', decorators: true },
        transform: { legacyDecorator: true, decoratorMetadata: true },
        target: 'es2022',
        keepClassNames: true,
      },
      module: { type: 'commonjs' },
      sourceMaps: 'inline',
    },
  ],
};

/**
 * Jest settings shared by every project. Unit specs are `*.spec.ts`; specs that need the real
 * broker or database are `*.int.spec.ts` and read KAFKA_BROKERS / DATABASE_URL set by `npm test`.
 * @param {string} displayName
 * @param {string} rootDir
 * @param {string[]} [testMatch]
 * @returns {import('jest').Config}
 */
function projectJestConfig(displayName, rootDir, testMatch = ['<rootDir>/src/**/*.spec.ts']) {
  return {
    displayName,
    rootDir,
    testEnvironment: 'node',
    transform,
    moduleFileExtensions: ['ts', 'js', 'json'],
    moduleNameMapper: aliasesFromTsconfig(),
    testMatch,
    // Every test must reach at least one expect (see the file for why).
    setupFilesAfterEnv: [join(workspaceRoot, 'tools', 'jest', 'assertions.ts')],
    testTimeout: 30_000,
  };
}

module.exports = { projectJestConfig, workspaceRoot };
