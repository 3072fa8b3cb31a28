import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createProjectGraphAsync } from '@nx/devkit';

/** Proves the Nx tag constraints in eslint.config.mjs are enforced, not just declared. */
const workspaceRoot = join(__dirname, '..');

interface LintMessage {
  readonly ruleId: string | null;
  readonly message: string;
  readonly fatal?: boolean;
}

interface LintResult {
  readonly filePath: string;
  readonly messages: LintMessage[];
}

/**
 * Lints `code` as if it were the file at `filePath`, with the repository's own ESLint config.
 * Anything short of a real lint of that file (ESLint crashed, printed nothing, ignored the file or
 * could not parse it) throws: an empty answer must never read as "no boundary errors".
 */
async function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  // ESLint runs in a child process: its ESM config cannot be imported inside Jest's CommonJS sandbox.
  const eslint = join(workspaceRoot, 'node_modules', 'eslint', 'bin', 'eslint.js');
  const absolutePath = join(workspaceRoot, filePath);
  const run = promisify(execFile)(process.execPath, [eslint, '--format', 'json', '--stdin', '--stdin-filename', absolutePath], {
    cwd: workspaceRoot,
  });
  run.child.stdin?.end(code);
  // ESLint exits 1 when it reports errors (its JSON report is on stdout either way), 2 when it fails.
  const { stdout, stderr, exitCode } = await run.then(
    ({ stdout, stderr }) => ({ stdout, stderr, exitCode: 0 }),
    (error: { stdout?: string; stderr?: string; code?: number | string }) => ({ stdout: error.stdout ?? '', stderr: error.stderr ?? '', exitCode: error.code }),
  );
  const explain = `ESLint on ${filePath} exited ${String(exitCode)}; stdout: ${stdout.slice(0, 500) || '(empty)'}; stderr: ${stderr.slice(0, 2000) || '(empty)'}`;
  if (exitCode !== 0 && exitCode !== 1) throw new Error(`ESLint did not lint: ${explain}`);
  let results: LintResult[];
  try {
    results = JSON.parse(stdout) as LintResult[];
  } catch {
    throw new Error(`ESLint printed no JSON report: ${explain}`);
  }
  const result = results.find((r) => r.filePath === absolutePath);
  if (results.length !== 1 || !result) throw new Error(`ESLint reported no result for the file: ${explain}`);
  // An ignored file or a parse error comes back as a message without a rule.
  const unlinted = result.messages.filter((m) => m.fatal === true || m.ruleId === null);
  if (unlinted.length > 0) throw new Error(`ESLint did not lint ${filePath}: ${unlinted.map((m) => m.message).join('; ')}`);
  return result.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message);
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
    // platform-database: an infra library that does not itself use config (no cycle hides the rule).
    const errors = await boundaryErrors('libs/platform/config/src/probe.ts', "import { createPrismaClient } from '@license-ledger/platform-database';\nexport const x = createPrismaClient;\n");
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
