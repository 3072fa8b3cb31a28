import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { bytesEqual, plain, requireKeyLength, toHex, type RandomBytes } from './bytes';
import { CryptoError } from './errors';

export const SIGN_PUBLIC_KEY_BYTES = 32;
export const SIGN_SEED_BYTES = 32;
/** libsodium's Ed25519 secret key: seed followed by public key. */
export const SIGN_SECRET_KEY_BYTES = 64;
export const SIGNATURE_BYTES = 64;

const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** A key id names a public key: the first 8 bytes of SHA-256 of its 32 bytes, in lowercase hex. */
export function keyId(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

/**
 * An Ed25519 signing key. Signing runs in Node's native crypto (about 55 µs against about 4.5 ms for
 * tweetnacl); Ed25519 is deterministic, so signatures are byte-identical to libsodium's.
 */
export class SigningKey {
  readonly publicKey: Uint8Array;
  readonly keyId: string;
  private readonly keyObject: KeyObject;

  private constructor(readonly seed: Uint8Array) {
    this.keyObject = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    this.publicKey = plain(createPublicKey(this.keyObject).export({ format: 'der', type: 'spki' }).subarray(ED25519_SPKI_PREFIX.length));
    this.keyId = keyId(this.publicKey);
  }

  static fromSeed(seed: Uint8Array): SigningKey {
    requireKeyLength('Ed25519 seed', seed, SIGN_SEED_BYTES);
    return new SigningKey(Uint8Array.from(seed));
  }

  /** Accepts libsodium's 64-byte secret key (seed || public key) and checks its two halves agree. */
  static fromSecretKey(secretKey: Uint8Array): SigningKey {
    requireKeyLength('Ed25519 secret key', secretKey, SIGN_SECRET_KEY_BYTES);
    const key = SigningKey.fromSeed(secretKey.subarray(0, SIGN_SEED_BYTES));
    if (!bytesEqual(key.publicKey, secretKey.subarray(SIGN_SEED_BYTES))) throw new CryptoError('Ed25519 secret key: its public half does not belong to its seed');
    return key;
  }

  static generate(random: RandomBytes): SigningKey {
    return SigningKey.fromSeed(random(SIGN_SEED_BYTES));
  }

  /** libsodium's 64-byte form, for crypto_sign_detached. */
  get secretKey(): Uint8Array {
    const out = new Uint8Array(SIGN_SECRET_KEY_BYTES);
    out.set(this.seed);
    out.set(this.publicKey, SIGN_SEED_BYTES);
    return out;
  }

  sign(message: Uint8Array): Uint8Array {
    return plain(sign(null, message, this.keyObject));
  }
}

/** An Ed25519 public key, imported once so each verification is only the native check. */
export class VerifyKey {
  readonly keyId: string;
  private readonly keyObject: KeyObject;

  private constructor(readonly publicKey: Uint8Array) {
    this.keyObject = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    this.keyId = keyId(publicKey);
  }

  static fromBytes(publicKey: Uint8Array): VerifyKey {
    requireKeyLength('Ed25519 public key', publicKey, SIGN_PUBLIC_KEY_BYTES);
    try {
      return new VerifyKey(Uint8Array.from(publicKey));
    } catch (error: unknown) {
      throw new CryptoError(`not an Ed25519 public key: ${error instanceof Error ? error.message : String(error)} (key ${toHex(publicKey)})`);
    }
  }

  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.byteLength !== SIGNATURE_BYTES) return false;
    return verify(null, message, this.keyObject, signature);
  }
}
