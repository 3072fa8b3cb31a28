import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createProjectGraphAsync } from '@nx/devkit';

/** Proves the Nx tag constraints in eslint.config.mjs are enforced, not just declared. */
const workspaceRoot = join(__dirname, '..');

interface LintMessage {
  readonly ruleId: string | null;
  readonly message: string;
}

/** Lints `code` as if it were the file at `filePath`, with the repository's own ESLint config. */
async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  // ESLint runs in a child process: its ESM config cannot be imported inside Jest's CommonJS sandbox.
  const eslint = join(workspaceRoot, 'node_modules', 'eslint', 'bin', 'eslint.js');
  const run = promisify(execFile)(
    process.execPath,
    [eslint, '--format', 'json', '--stdin', '--stdin-filename', join(workspaceRoot, filePath)],
    { cwd: workspaceRoot },
  );
  run.child.stdin?.end(code);
  // ESLint exits 1 when it reports errors; its JSON report is on stdout either way.
  const { stdout } = await run.catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '[]' }));
  const [result] = JSON.parse(stdout) as Array<{ messages: LintMessage[] }>;
  return (result?.messages ?? []).filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
}

describe('module boundaries', () => {
  beforeAll(async () => {
    // The lint rule reads the cached project graph; compute it as `nx` would.
    await createProjectGraphAsync({ exitOnError: false });
  }, 60_000);

  it('forbids an app from importing another app', async () => {
    const errors = await boundaryErrors('apps/lease/src/probe.ts', "import { createIngressModule } from '../../ingress/src/ingress.module';\nexport const x = createIngressModule;\n");
    expect(errors.join('\n')).toMatch(/Projects cannot be imported by a relative or absolute path|type:app/);
  }, 60_000);

  it('forbids a util library from depending on an infra library', async () => {
    const errors = await boundaryErrors('libs/platform/config/src/probe.ts', "import { Topics } from '@license-ledger/platform-kafka';\nexport const x = Topics;\n");
    expect(errors.join('\n')).toMatch(/type:util.*can only depend on libs tagged with.*type:util/s);
  }, 60_000);

  it('forbids framework imports in framework-free libraries', async () => {
    const errors = await boundaryErrors('libs/platform/config/src/probe.ts', "import { Injectable } from '@nestjs/common';\nexport const x = Injectable;\n");
    expect(errors.join('\n')).toMatch(/"type:util" is not allowed to import "@nestjs\/common"/);
  }, 60_000);

  it('allows an app to use the platform libraries', async () => {
    const errors = await boundaryErrors('apps/lease/src/probe.ts', "import { Topics } from '@license-ledger/platform-kafka';\nexport const x = Topics;\n");
    expect(errors).toEqual([]);
  }, 60_000);
});
