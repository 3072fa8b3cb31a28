import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BoxSecretKey } from './box';
import { fromBase64, plain, toBase64, type RandomBytes } from './bytes';
import { SigningKey, keyId } from './ed25519';
import { CryptoError } from './errors';

/** `box`: X25519 (gateways, and the server's request key); `sign`: Ed25519 (the server's token key). */
export type KeyKind = 'box' | 'sign';

export const systemRandom: RandomBytes = (length) => plain(randomBytes(length));

export interface WrittenKeyPair {
  readonly secretKeyPath: string;
  readonly publicKeyPath: string;
  readonly publicKey: Uint8Array;
  readonly keyId: string;
}

/** Exclusive create with mode 0600, then fchmod, so neither an existing file nor the umask decides the mode. */
function writeNewFile(path: string, contents: string, mode: number): void {
  let fd: number;
  try {
    fd = openSync(path, 'wx', mode);
  } catch (error: unknown) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new CryptoError(`${path} already exists; refusing to overwrite a key`);
    throw error;
  }
  try {
    fchmodSync(fd, mode);
    writeSync(fd, contents);
  } finally {
    closeSync(fd);
  }
}

/**
 * Writes `<name>.key` (the 32-byte X25519 secret key or Ed25519 seed, standard base64 on one line,
 * mode 0600) and `<name>.pub` (the 32-byte public key, standard base64 on one line).
 */
export function writeKeyPairFiles(options: { dir: string; name: string; kind: KeyKind; random?: RandomBytes }): WrittenKeyPair {
  const random = options.random ?? systemRandom;
  let secret: Uint8Array;
  let publicKey: Uint8Array;
  switch (options.kind) {
    case 'box': {
      const key = BoxSecretKey.generate(random);
      secret = key.secretKey;
      publicKey = key.publicKey;
      break;
    }
    case 'sign': {
      const key = SigningKey.generate(random);
      secret = key.seed;
      publicKey = key.publicKey;
      break;
    }
    default: {
      const unknown: never = options.kind;
      throw new CryptoError(`unknown key kind ${String(unknown)}`);
    }
  }
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const secretKeyPath = join(options.dir, `${options.name}.key`);
  const publicKeyPath = join(options.dir, `${options.name}.pub`);
  writeNewFile(secretKeyPath, `${toBase64(secret)}\n`, 0o600);
  writeNewFile(publicKeyPath, `${toBase64(publicKey)}\n`, 0o644);
  return { secretKeyPath, publicKeyPath, publicKey, keyId: keyId(publicKey) };
}

/** One line of standard base64 (a trailing newline is fine). */
function readBase64Line(path: string, what: string): Uint8Array {
  const text = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  if (text.includes('\n')) throw new CryptoError(`${path}: a ${what} file holds one line of base64`);
  return fromBase64(text, `${what} in ${path}`);
}

/** Like ssh, refuses a secret key that others can read. */
function readSecretKeyFile(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) throw new CryptoError(`${path} has mode ${mode.toString(8).padStart(4, '0')}; a secret key file must not be accessible by group or others (chmod 600 ${path})`);
  } finally {
    closeSync(fd);
  }
  return readBase64Line(path, 'secret key');
}

export function readBoxSecretKeyFile(path: string): BoxSecretKey {
  return BoxSecretKey.fromBytes(readSecretKeyFile(path));
}

/** The 32-byte seed we write, or libsodium's 64-byte secret key (seed || public key). */
export function readSigningKeyFile(path: string): SigningKey {
  const secret = readSecretKeyFile(path);
  return secret.byteLength === 64 ? SigningKey.fromSecretKey(secret) : SigningKey.fromSeed(secret);
}

export function readPublicKeyFile(path: string): Uint8Array {
  const key = readBase64Line(path, 'public key');
  if (key.byteLength !== 32) throw new CryptoError(`${path}: a public key is 32 bytes, got ${key.byteLength}`);
  return key;
}

/** A public key given inline (configuration, JSON): standard base64 of 32 bytes. */
export function parsePublicKey(text: string, what = 'public key'): Uint8Array {
  const key = fromBase64(text.trim(), what);
  if (key.byteLength !== 32) throw new CryptoError(`${what} must be 32 bytes of standard base64, got ${key.byteLength} bytes`);
  return key;
}
