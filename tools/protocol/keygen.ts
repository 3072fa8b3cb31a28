/**
 * Writes a server key pair: `box` (X25519, opens requests) or `sign` (Ed25519, signs tokens).
 * The secret key file gets mode 0600; the public key is one line of standard base64.
 *
 *   tsx tools/protocol/keygen.ts --out <dir> --kind box|sign [--name <file name, default server-<kind>>]
 */
import { writeKeyPairFiles, type KeyKind } from '@license-ledger/protocol-crypto';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : undefined;
};
const out = flag('out');
const kind = flag('kind');
const isKind = (value: string | undefined): value is KeyKind => value === 'box' || value === 'sign';
if (!out || !isKind(kind)) {
  console.error('usage: tsx tools/protocol/keygen.ts --out <dir> --kind box|sign [--name <name>]');
  process.exit(1);
}
try {
  const written = writeKeyPairFiles({ dir: out, name: flag('name') ?? `server-${kind}`, kind });
  console.log(`wrote ${written.secretKeyPath} (0600) and ${written.publicKeyPath}; key id ${written.keyId}`);
} catch (error: unknown) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
