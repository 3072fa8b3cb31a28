import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AccessToken } from '@license-ledger/protocol-wire';

/** Where the client keeps the last sealed response and the latest time its clock showed. */
export interface TokenStore {
  loadResponse(): Uint8Array | null;
  saveResponse(body: Uint8Array): void;
  loadLastSeen(): bigint | null;
  saveLastSeen(nowNs: bigint): void;
}

/** Write to a 0600 temporary file, then rename: a crash never leaves a half-written token. */
export function writeAtomically(path: string, contents: Uint8Array): void {
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

export function readIfExists(path: string): Buffer | null {
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

  /** After a release: the token's lock no longer counts, so a restart must not run on it. */
  clearResponse(): void {
    rmSync(this.responsePath, { force: true });
  }

  loadLastSeen(): bigint | null {
    const text = readIfExists(this.clockPath)?.toString('utf8').trim();
    return text && /^\d+$/.test(text) ? BigInt(text) : null;
  }

  saveLastSeen(nowNs: bigint): void {
    writeAtomically(this.clockPath, Buffer.from(`${nowNs}\n`));
  }
}

/** A token file that cannot be used; the message says why. */
export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

export type ImportedToken =
  /** The file's token is now the cached token. */
  | { readonly kind: 'imported'; readonly token: AccessToken }
  /** The cached token is valid and runs longer than the file's: kept, the file ignored. */
  | { readonly kind: 'kept-cached'; readonly token: AccessToken; readonly fileToken: AccessToken };

const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

/**
 * `run --token-file <file>`: a token handed over out of band (a support token from `ledger token
 * issue`, or a saved server answer). It is verified exactly like the cached token (`open`) and must
 * not have expired; it then replaces the cached token, unless that one is valid and runs longer, so
 * a start command that always names the file never throws away a fresher server token.
 */
export function importTokenFile(path: string, store: TokenStore, open: (body: Uint8Array) => AccessToken, nowNs: bigint): ImportedToken {
  let body: Uint8Array;
  try {
    body = new Uint8Array(readFileSync(path));
  } catch (error: unknown) {
    throw new TokenFileError(`cannot read token file ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let token: AccessToken;
  try {
    token = open(body);
  } catch (error: unknown) {
    throw new TokenFileError(`token file ${path} is not a token for this gateway: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (token.expiryTimeUtc <= nowNs) throw new TokenFileError(`token file ${path}: token ${token.tokenId} expired at ${iso(token.expiryTimeUtc)}`);
  const cachedBody = store.loadResponse();
  if (cachedBody) {
    let cached: AccessToken | undefined;
    try {
      cached = open(cachedBody);
    } catch {
      cached = undefined; // An unusable cached token is simply replaced.
    }
    if (cached && cached.expiryTimeUtc > token.expiryTimeUtc) return { kind: 'kept-cached', token: cached, fileToken: token };
  }
  store.saveResponse(body);
  return { kind: 'imported', token };
}
