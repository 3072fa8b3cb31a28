import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

/** Where the client keeps the last sealed response and the latest time its clock showed. */
export interface TokenStore {
  loadResponse(): Uint8Array | null;
  saveResponse(body: Uint8Array): void;
  loadLastSeen(): bigint | null;
  saveLastSeen(nowNs: bigint): void;
}

/** Write to a 0600 temporary file, then rename: a crash never leaves a half-written token. */
function writeAtomically(path: string, contents: Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, contents);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}

function readIfExists(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Files in the state directory (mode 0700): `token.sealed`, the server's response exactly as received
 * (still sealed to this gateway's key, so only this key opens it), and `clock`, the latest time seen.
 */
export class FileTokenStore implements TokenStore {
  readonly responsePath: string;
  readonly clockPath: string;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.responsePath = join(dir, 'token.sealed');
    this.clockPath = join(dir, 'clock');
  }

  loadResponse(): Uint8Array | null {
    const bytes = readIfExists(this.responsePath);
    return bytes ? new Uint8Array(bytes) : null;
  }

  saveResponse(body: Uint8Array): void {
    writeAtomically(this.responsePath, body);
  }

  loadLastSeen(): bigint | null {
    const text = readIfExists(this.clockPath)?.toString('utf8').trim();
    return text && /^\d+$/.test(text) ? BigInt(text) : null;
  }

  saveLastSeen(nowNs: bigint): void {
    writeAtomically(this.clockPath, Buffer.from(`${nowNs}\n`));
  }
}
