import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeKeyPairFiles } from '@license-ledger/protocol-crypto';

export interface ServerKeyFiles {
  readonly SERVER_BOX_KEY_FILE: string;
  readonly SERVER_SIGN_KEY_FILE: string;
}

/**
 * The ingress's key pairs for a development or compose setup: a box (X25519) and a signing
 * (Ed25519) pair in `dir`, written on first use and reused later, so gateways configured once keep
 * working. SERVER_BOX_KEY_FILE / SERVER_SIGN_KEY_FILE, when set, win.
 */
export function ensureServerKeys(dir: string, log: (line: string) => void): ServerKeyFiles {
  const files = { box: join(dir, 'server-box.key'), sign: join(dir, 'server-sign.key') };
  for (const kind of ['box', 'sign'] as const) {
    if (existsSync(files[kind])) continue;
    const written = writeKeyPairFiles({ dir, name: `server-${kind}`, kind });
    log(`generated ${kind} key pair ${written.secretKeyPath} (key id ${written.keyId})`);
  }
  return {
    SERVER_BOX_KEY_FILE: process.env['SERVER_BOX_KEY_FILE'] ?? files.box,
    SERVER_SIGN_KEY_FILE: process.env['SERVER_SIGN_KEY_FILE'] ?? files.sign,
  };
}
