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

/**
 * The lease service's ledger key (Ed25519, signs the events chain's checkpoints; see
 * docs/ledger-integrity.md) in `dir`, written on first use and reused later. LEDGER_SIGN_KEY_FILE,
 * when set, wins. `ledger verify --ledger-key <dir>/ledger-sign.pub` checks against it.
 */
export function ensureLedgerKey(dir: string, log: (line: string) => void): { readonly LEDGER_SIGN_KEY_FILE: string } {
  const file = join(dir, 'ledger-sign.key');
  if (!existsSync(file)) {
    const written = writeKeyPairFiles({ dir, name: 'ledger-sign', kind: 'sign' });
    log(`generated ledger key pair ${written.secretKeyPath} (key id ${written.keyId})`);
  }
  return { LEDGER_SIGN_KEY_FILE: process.env['LEDGER_SIGN_KEY_FILE'] ?? file };
}
