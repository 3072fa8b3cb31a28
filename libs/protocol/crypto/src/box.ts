import { createPrivateKey, createPublicKey, diffieHellman, type KeyObject } from 'node:crypto';
import nacl from 'tweetnacl';
import { plain, requireKeyLength, type RandomBytes } from './bytes';
import { CryptoError } from './errors';
import { hsalsa20 } from './hsalsa20';

export const BOX_PUBLIC_KEY_BYTES = 32;
export const BOX_SECRET_KEY_BYTES = 32;
export const BOX_SHARED_KEY_BYTES = 32;
export const BOX_NONCE_BYTES = 24;
export const BOX_MAC_BYTES = 16;

// DER headers that wrap a raw 32-byte X25519 key as PKCS#8 / SPKI, the forms Node imports.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const ZERO16 = new Uint8Array(16);

function x25519PublicKeyObject(publicKey: Uint8Array): KeyObject {
  requireKeyLength('X25519 public key', publicKey, BOX_PUBLIC_KEY_BYTES);
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
}

/**
 * An X25519 secret key (NaCl box). Key agreement runs in Node's native crypto (about 60 µs against
 * about 1 ms for tweetnacl); only the cheap symmetric part uses tweetnacl.
 */
export class BoxSecretKey {
  readonly publicKey: Uint8Array;
  private readonly keyObject: KeyObject;

  private constructor(readonly secretKey: Uint8Array) {
    this.keyObject = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secretKey]), format: 'der', type: 'pkcs8' });
    this.publicKey = plain(createPublicKey(this.keyObject).export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length));
  }

  static fromBytes(secretKey: Uint8Array): BoxSecretKey {
    requireKeyLength('X25519 secret key', secretKey, BOX_SECRET_KEY_BYTES);
    return new BoxSecretKey(Uint8Array.from(secretKey));
  }

  static generate(random: RandomBytes): BoxSecretKey {
    return BoxSecretKey.fromBytes(random(BOX_SECRET_KEY_BYTES));
  }

  /**
   * libsodium's crypto_box_beforenm: HSalsa20 of the X25519 shared secret. The same key seals and
   * opens in both directions between the two parties.
   */
  sharedKey(peerPublicKey: Uint8Array): Uint8Array {
    let shared: Buffer;
    try {
      shared = diffieHellman({ privateKey: this.keyObject, publicKey: x25519PublicKeyObject(peerPublicKey) });
    } catch (error: unknown) {
      if (error instanceof CryptoError) throw error;
      throw new CryptoError(`X25519 with this public key failed (a low-order point?): ${error instanceof Error ? error.message : String(error)}`);
    }
    // libsodium refuses an all-zero shared secret (low-order peer key); so must we, to stay compatible.
    if (shared.every((byte) => byte === 0)) throw new CryptoError('X25519 with this public key gives an all-zero secret (low-order point)');
    return hsalsa20(shared, ZERO16);
  }
}

/** crypto_box_easy with a precomputed key (crypto_box_easy_afternm): MAC followed by ciphertext. */
export function sealWithSharedKey(message: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array {
  requireKeyLength('box nonce', nonce, BOX_NONCE_BYTES);
  requireKeyLength('shared key', sharedKey, BOX_SHARED_KEY_BYTES);
  // XSalsa20-Poly1305 keyed by the beforenm key is exactly NaCl secretbox.
  return nacl.secretbox(message, nonce, sharedKey);
}

/** crypto_box_open_easy_afternm; null when the box does not authenticate. */
export function openWithSharedKey(box: Uint8Array, nonce: Uint8Array, sharedKey: Uint8Array): Uint8Array | null {
  requireKeyLength('box nonce', nonce, BOX_NONCE_BYTES);
  requireKeyLength('shared key', sharedKey, BOX_SHARED_KEY_BYTES);
  if (box.byteLength < BOX_MAC_BYTES) return null;
  return nacl.secretbox.open(box, nonce, sharedKey);
}

/**
 * Per-peer precomputed keys of one secret key, least recently used evicted first: a gateway renews
 * every 30 minutes, so its X25519 is computed once per process rather than per request.
 */
export class SharedKeyCache {
  private readonly entries = new Map<string, Uint8Array>();
  hits = 0;
  misses = 0;

  constructor(
    readonly secretKey: BoxSecretKey,
    readonly capacity = 100_000,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new CryptoError(`shared key cache capacity must be a positive integer, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  sharedKey(peerPublicKey: Uint8Array): Uint8Array {
    requireKeyLength('X25519 public key', peerPublicKey, BOX_PUBLIC_KEY_BYTES);
    const id = Buffer.from(peerPublicKey.buffer, peerPublicKey.byteOffset, peerPublicKey.byteLength).toString('latin1');
    const cached = this.entries.get(id);
    if (cached) {
      this.hits++;
      // Map keeps insertion order: re-inserting marks the entry most recently used.
      this.entries.delete(id);
      this.entries.set(id, cached);
      return cached;
    }
    this.misses++;
    const key = this.secretKey.sharedKey(peerPublicKey);
    if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(id, key);
    return key;
  }
}

/** Convenience for one-off boxes (gateway side): shared key, then seal. */
export function sealBox(message: Uint8Array, nonce: Uint8Array, recipientPublicKey: Uint8Array, sender: BoxSecretKey): Uint8Array {
  return sealWithSharedKey(message, nonce, sender.sharedKey(recipientPublicKey));
}

export function openBox(box: Uint8Array, nonce: Uint8Array, senderPublicKey: Uint8Array, recipient: BoxSecretKey): Uint8Array | null {
  return openWithSharedKey(box, nonce, recipient.sharedKey(senderPublicKey));
}

