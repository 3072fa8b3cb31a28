/**
 * Regenerates the committed FlatBuffers code from the schemas in libs/protocol/wire/schema.
 *
 *   tsx tools/protocol/generate.ts
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkFlatc, generateInto, targets, workspaceRoot } from './flatc';

try {
  checkFlatc();
  for (const target of targets) {
    rmSync(target.outDir, { recursive: true, force: true });
    mkdirSync(target.outDir, { recursive: true });
    generateInto(target, target.outDir);
    for (const file of readdirSync(target.outDir)) console.log(`generated ${relative(workspaceRoot, join(target.outDir, file))}`);
  }
} catch (error: unknown) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
