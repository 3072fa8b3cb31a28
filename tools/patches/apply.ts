/**
 * Applies the project's fixes to installed dependencies (npm's postinstall runs it).
 *
 * Each patch replaces one file of one exact package version with the project's copy, and only when
 * the installed file is byte-for-byte the upstream one: after an upgrade (different version or
 * content) it fails the install, naming the patch, so nobody runs silently without the fix.
 * Running it again is a no-op.
 *
 * Usage: tsx tools/patches/apply.ts [--check]   (--check: report only, exit 1 if anything is unpatched)
 */
import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export interface DependencyPatch {
  readonly packageName: string;
  readonly version: string;
  /** The file inside the package that is replaced. */
  readonly file: string;
  /** SHA-256 of the upstream file the patch was made against. */
  readonly upstreamSha256: string;
  /** The project's patched copy, relative to this directory. */
  readonly replacement: string;
  readonly why: string;
}

export const dependencyPatches: readonly DependencyPatch[] = [
  {
    packageName: 'kafkajs',
    version: '2.2.4',
    file: 'src/producer/sendMessages.js',
    upstreamSha256: '8a120e6993955e040a13014cccebd79b8d41e7355d6eda1065fa83fea2fbbcdb',
    replacement: 'kafkajs/sendMessages.js',
    why: 'a produce retry after a leader move re-sent partitions already written: duplicated records in committed transactions',
  },
];

export type PatchState =
  | { readonly kind: 'patched' }
  | { readonly kind: 'upstream' }
  | { readonly kind: 'unknown'; readonly reason: string };

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function installedFile(patch: DependencyPatch): { readonly path: string; readonly version: string } {
  const manifest = require.resolve(`${patch.packageName}/package.json`, { paths: [join(__dirname, '..', '..')] });
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return { path: join(dirname(manifest), patch.file), version };
}

export function patchState(patch: DependencyPatch): PatchState {
  const installed = installedFile(patch);
  if (installed.version !== patch.version) {
    return { kind: 'unknown', reason: `${patch.packageName} ${installed.version} is installed; the patch is for ${patch.version}` };
  }
  const actual = sha256(installed.path);
  if (actual === sha256(join(__dirname, patch.replacement))) return { kind: 'patched' };
  if (actual === patch.upstreamSha256) return { kind: 'upstream' };
  return { kind: 'unknown', reason: `${installed.path} is neither upstream ${patch.version} nor the project's copy` };
}

function main(checkOnly: boolean): number {
  let failures = 0;
  for (const patch of dependencyPatches) {
    const name = `${patch.packageName}@${patch.version} ${patch.file}`;
    const state = patchState(patch);
    if (state.kind === 'upstream' && !checkOnly) {
      copyFileSync(join(__dirname, patch.replacement), installedFile(patch).path);
      process.stdout.write(`patched ${name} (${patch.why})\n`);
    } else if (state.kind === 'patched') {
      process.stdout.write(`already patched: ${name}\n`);
    } else {
      failures += 1;
      const reason = state.kind === 'unknown' ? state.reason : 'not patched';
      process.stderr.write(`cannot apply the patch to ${name}: ${reason}. See tools/patches/apply.ts (${patch.why}).\n`);
    }
  }
  return failures === 0 ? 0 : 1;
}

if (require.main === module) {
  process.exitCode = main(process.argv.includes('--check'));
}
