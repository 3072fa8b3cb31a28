/**
 * Builds one app for `node`: transpiles the app and every library with swc (decorator metadata for
 * Nest; tsconfig path aliases rewritten to relative requires) into dist/<app root>/, keeping the
 * repository layout so relative paths between files stay valid. Type checking is `nx typecheck`.
 *
 *   tsx tools/build.ts <app-name>
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { transformFile } from '@swc/core';

const workspaceRoot = join(__dirname, '..');
const apps: Record<string, string> = { ingress: 'apps/ingress', lease: 'apps/lease', metrics: 'apps/metrics', 'gateway-client': 'apps/gateway-client', 'ledger-cli': 'apps/ledger-cli' };

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.spec.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** Non-TypeScript files next to sources (e.g. Wasm of the generated Prisma client) ship as they are. */
function assetFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return assetFiles(path);
    return /\.(wasm|node|json|js)$/.test(entry.name) ? [path] : [];
  });
}

async function build(appName: string): Promise<void> {
  const appRoot = apps[appName];
  if (!appRoot) throw new Error(`unknown app "${appName}"; expected one of ${Object.keys(apps).join(', ')}`);
  const tsconfig = JSON.parse(readFileSync(join(workspaceRoot, 'tsconfig.base.json'), 'utf8')) as {
    compilerOptions: { paths: Record<string, string[]> };
  };
  const outDir = join(workspaceRoot, 'dist', appRoot);
  rmSync(outDir, { recursive: true, force: true });

  const roots = [join(workspaceRoot, appRoot, 'src'), ...Object.values(tsconfig.compilerOptions.paths).map((targets) => join(workspaceRoot, dirname(targets[0] ?? '')))];
  const files = [...new Set(roots.flatMap(sourceFiles))];
  const started = Date.now();
  await Promise.all(
    files.map(async (file) => {
      const output = await transformFile(file, {
        swcrc: false,
        sourceMaps: true,
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
          keepClassNames: true,
          baseUrl: workspaceRoot,
          paths: tsconfig.compilerOptions.paths,
        },
        module: { type: 'commonjs' },
      });
      const target = join(outDir, relative(workspaceRoot, file)).replace(/\.ts$/, '.js');
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, `${output.code}\n//# sourceMappingURL=${target.split('/').pop() ?? ''}.map\n`);
      if (output.map) writeFileSync(`${target}.map`, output.map);
    }),
  );
  for (const asset of roots.flatMap(assetFiles)) {
    const target = join(outDir, relative(workspaceRoot, asset));
    mkdirSync(dirname(target), { recursive: true });
    cpSync(asset, target);
  }
  console.log(`built ${appName}: ${files.length} files in ${Date.now() - started} ms -> ${relative(workspaceRoot, outDir)}/${appRoot}/src/main.js`);
}

// Not strict: whatever a task runner appends after the app's name is ignored, as it always was.
const { positionals } = parseArgs({ allowPositionals: true, strict: false });
build(positionals[0] ?? '').catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
