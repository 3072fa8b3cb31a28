/**
 * Writes a server key pair: `box` (X25519, opens requests) or `sign` (Ed25519, signs tokens).
 * The secret key file gets mode 0600; the public key is one line of standard base64.
 *
 *   tsx tools/protocol/keygen.ts --out <dir> --kind box|sign [--name <file name, default server-<kind>>]
 */
import { parseArgs } from 'node:util';
import { writeKeyPairFiles, type KeyKind } from '@license-ledger/protocol-crypto';

const usage = 'usage: tsx tools/protocol/keygen.ts --out <dir> --kind box|sign [--name <name>]';
const isKind = (value: string | undefined): value is KeyKind => value === 'box' || value === 'sign';

let values: { out?: string | undefined; kind?: string | undefined; name?: string | undefined };
try {
  ({ values } = parseArgs({ options: { out: { type: 'string' }, kind: { type: 'string' }, name: { type: 'string' } } }));
} catch (error: unknown) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  process.exit(1);
}
const { out, kind } = values;
if (!out || !isKind(kind)) {
  console.error(usage);
  process.exit(1);
}
try {
  const written = writeKeyPairFiles({ dir: out, name: values.name ?? `server-${kind}`, kind });
  console.log(`wrote ${written.secretKeyPath} (0600) and ${written.publicKeyPath}; key id ${written.keyId}`);
} catch (error: unknown) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
