/**
 * Generates the Prisma client (libs/platform/database/src/generated/prisma) without downloading
 * anything.
 *
 * Every Prisma 7 CLI command first looks for its native schema-engine binary and downloads it
 * from Prisma's host (unreachable here). `generate` never runs that binary, so pointing
 * PRISMA_SCHEMA_ENGINE_BINARY at any executable skips the download. The generated client needs
 * no binary either (Wasm query compiler + the pg driver adapter).
 *
 * Usage: tsx tools/db/generate.ts [--force]
 *   Skips the work when schema.prisma and the Prisma versions are unchanged since the last run
 *   (a stamp file in the output directory), so it is cheap to call before every build/test.
 *   Run from npm's postinstall without the Prisma CLI installed (production install), it warns
 *   and exits 0 instead of failing the install.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SCHEMA_PATH = path.join(REPO_ROOT, 'prisma', 'schema.prisma');
const OUTPUT_DIR = path.join(REPO_ROOT, 'libs', 'platform', 'database', 'src', 'generated', 'prisma');
const STAMP_FILE = path.join(OUTPUT_DIR, '.generate-stamp');

/** Any executable will do; /bin/true does nothing if something ever runs it. */
function placeholderEngine(): string {
  return existsSync('/bin/true') ? '/bin/true' : process.execPath;
}

async function packageVersion(name: string): Promise<string | undefined> {
  try {
    const file = require.resolve(`${name}/package.json`, { paths: [REPO_ROOT] });
    const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'version' in parsed && typeof parsed.version === 'string') {
      return parsed.version;
    }
  } catch {
    // not installed
  }
  return undefined;
}

export interface GenerateResult {
  skipped: boolean;
  durationMs: number;
}

/** Runs `prisma generate` unless the output is up to date (or `force`). */
export async function generatePrismaClient(options: { force?: boolean } = {}): Promise<GenerateResult> {
  const started = Date.now();
  const prismaVersion = await packageVersion('prisma');
  if (prismaVersion === undefined) {
    throw new Error('The Prisma CLI (devDependency "prisma") is not installed; cannot generate the client.');
  }
  const schema = await readFile(SCHEMA_PATH, 'utf8');
  const stamp = createHash('sha256')
    .update(schema)
    .update(`\0prisma@${prismaVersion}\0@prisma/client@${(await packageVersion('@prisma/client')) ?? '?'}`)
    .digest('hex');
  const previous = await readFile(STAMP_FILE, 'utf8').catch(() => '');
  if (!options.force && previous.trim() === stamp && existsSync(path.join(OUTPUT_DIR, 'client.ts'))) {
    return { skipped: true, durationMs: Date.now() - started };
  }

  const cli = require.resolve('prisma/build/index.js', { paths: [REPO_ROOT] });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env['PRISMA_SCHEMA_ENGINE_BINARY'] ?? placeholderEngine(),
    // No network: no update check / telemetry ping to Prisma's servers.
    CHECKPOINT_DISABLE: '1',
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
  };
  // Async spawn (not spawnSync): never block a caller's event loop.
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'generate', '--schema', SCHEMA_PATH], {
      cwd: REPO_ROOT,
      env,
      stdio: 'inherit',
    });
    child.once('error', reject);
    child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
  if (code !== 0) throw new Error(`prisma generate failed with exit code ${code}`);
  await writeFile(STAMP_FILE, `${stamp}\n`, 'utf8');
  return { skipped: false, durationMs: Date.now() - started };
}

if (require.main === module) {
  let force = false;
  try {
    force = parseArgs({ options: { force: { type: 'boolean', default: false } } }).values.force;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\nusage: tsx tools/db/generate.ts [--force]\n`);
    process.exit(2);
  }
  generatePrismaClient({ force }).then(
    ({ skipped, durationMs }) => {
      process.stdout.write(
        skipped
          ? `Prisma client is up to date (${path.relative(REPO_ROOT, OUTPUT_DIR)}); use --force to regenerate.\n`
          : `Prisma client generated in ${durationMs} ms.\n`,
      );
      process.exit(0);
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      // A production install (npm ci --omit=dev) has no Prisma CLI: do not fail the install.
      if (process.env['npm_lifecycle_event'] === 'postinstall' && message.includes('is not installed')) {
        process.stderr.write(`generate: ${message} Skipping (postinstall).\n`);
        process.exit(0);
      }
      process.stderr.write(`generate: ${message}\n`);
      process.exit(1);
    },
  );
}
