/**
 * Writes the protocol's known-answer test vectors (deterministic keys and nonces) to
 * libs/protocol/exchange/test-vectors/v1.json. Check them against libsodium with
 * `python3 tools/protocol/check-test-vectors.py`.
 *
 *   tsx tools/protocol/test-vectors.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildTestVectors } from '@license-ledger/protocol-exchange';

const path = join(__dirname, '..', '..', 'libs/protocol/exchange/test-vectors/v1.json');
mkdirSync(join(path, '..'), { recursive: true });
writeFileSync(path, `${JSON.stringify(buildTestVectors(), null, 2)}\n`);
console.log(`wrote ${path}`);
