import { readFileSync } from 'node:fs';

/** The marker the project's copy of kafkajs's sendMessages.js carries (tools/patches). */
const PATCH_MARKER = 'License Ledger patch';

/**
 * Throws unless the installed kafkajs carries the project's produce-retry fix (tools/patches/apply.ts,
 * run by npm's postinstall). Without it, a retry after a partition leader moves re-sends batches
 * already written and a committed ledger transaction holds duplicated events, so a bus must not run
 * on an unpatched install (`npm install --ignore-scripts`, say).
 */
export function assertKafkajsPatched(): void {
  const file = require.resolve('kafkajs/src/producer/sendMessages.js');
  if (!readFileSync(file, 'utf8').includes(PATCH_MARKER)) {
    throw new Error(
      `kafkajs is not patched (${file}): run \`npx tsx tools/patches/apply.ts\` or reinstall with npm's scripts enabled (npm ci)`,
    );
  }
}
