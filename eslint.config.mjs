import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

/** Libraries that must never reach the domain: it stays a pure decider over plain data. */
const frameworkPackages = ['@nestjs/*', 'kafkajs', '@prisma/*', 'pg', 'express', 'pino', 'prom-client'];

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  {
    ignores: ['**/dist', '**/node_modules', '**/generated', '**/.cache', '**/.data', '**/tmp', '**/*.js', '**/*.mjs'],
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: true,
          banTransitiveDependencies: true,
          allow: [],
          depConstraints: [
            // Apps never import each other; they are composed from libraries.
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:nest', 'type:infra', 'type:domain', 'type:protocol', 'type:util'] },
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['type:infra', 'type:domain', 'type:protocol', 'type:util'] },
            { sourceTag: 'type:nest', onlyDependOnLibsWithTags: ['type:nest', 'type:infra', 'type:domain', 'type:protocol', 'type:util'] },
            { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:infra', 'type:domain', 'type:protocol', 'type:util'], bannedExternalImports: ['@nestjs/*'] },
            { sourceTag: 'type:domain', onlyDependOnLibsWithTags: ['type:domain', 'type:util'], bannedExternalImports: frameworkPackages },
            // The wire contract: encoding and crypto only, usable by any gateway-side or server-side code.
            { sourceTag: 'type:protocol', onlyDependOnLibsWithTags: ['type:protocol', 'type:util'], bannedExternalImports: frameworkPackages },
            { sourceTag: 'type:util', onlyDependOnLibsWithTags: ['type:util'], bannedExternalImports: ['@nestjs/*', 'kafkajs', '@prisma/*', 'pg'] },
            { sourceTag: 'type:tooling', onlyDependOnLibsWithTags: ['type:infra', 'type:domain', 'type:protocol', 'type:util'] },
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
];
