/**
 * Regenerates the committed FlatBuffers code of the gateway protocol from its schema.
 *
 *   tsx tools/protocol/generate.ts
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { checkFlatc, generateInto, generatedDir, workspaceRoot } from './flatc';

try {
  checkFlatc();
  rmSync(generatedDir, { recursive: true, force: true });
  mkdirSync(generatedDir, { recursive: true });
  generateInto(generatedDir);
  for (const file of readdirSync(generatedDir)) console.log(`generated ${relative(workspaceRoot, join(generatedDir, file))}`);
} catch (error: unknown) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
