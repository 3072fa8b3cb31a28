import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import {
  BoxSecretKey,
  CryptoError,
  SharedKeyCache,
  SigningKey,
  VerifyKey,
  configHash,
  fromBase64,
  hsalsa20,
  keyId,
  openBox,
  openWithSharedKey,
  readBoxSecretKeyFile,
  readPublicKeyFile,
  readSigningKeyFile,
  sealBox,
  sealWithSharedKey,
  toBase64,
  toHex,
  writeKeyPairFiles,
} from './index';

// tweetnacl's pure-JavaScript NaCl is the reference here (and libsodium itself in tools/protocol/check-test-vectors.py).
const random = (length: number): Uint8Array => nacl.randomBytes(length);
const encoder = new TextEncoder();

describe('crypto_box with native X25519', () => {
  it('derives the same public key as NaCl', () => {
    for (let i = 0; i < 20; i++) {
      const secret = random(32);
      expect(BoxSecretKey.fromBytes(secret).publicKey).toEqual(nacl.box.keyPair.fromSecretKey(secret).publicKey);
    }
  });

  it('precomputes the same key as crypto_box_beforenm (X25519 then HSalsa20)', () => {
    for (let i = 0; i < 20; i++) {
      const a = nacl.box.keyPair();
      const b = nacl.box.keyPair();
      expect(BoxSecretKey.fromBytes(a.secretKey).sharedKey(b.publicKey)).toEqual(nacl.box.before(b.publicKey, a.secretKey));
      expect(BoxSecretKey.fromBytes(b.secretKey).sharedKey(a.publicKey)).toEqual(nacl.box.before(a.publicKey, b.secretKey));
    }
  });

  it('implements HSalsa20 as NaCl does for arbitrary inputs', () => {
    // box.before(pk, sk) = hsalsa20(scalarmult(sk, pk), 0^16), so any 32-byte "shared secret" can be checked through it.
    for (let i = 0; i < 10; i++) {
      const sk = random(32);
      const pk = random(32);
      expect(hsalsa20(nacl.scalarMult(sk, pk), new Uint8Array(16))).toEqual(nacl.box.before(pk, sk));
    }
  });

  it('seals byte-for-byte like crypto_box_easy and opens NaCl boxes', () => {
    const gateway = nacl.box.keyPair();
    const server = nacl.box.keyPair();
    const sender = BoxSecretKey.fromBytes(gateway.secretKey);
    const recipient = BoxSecretKey.fromBytes(server.secretKey);
    for (const size of [0, 1, 31, 32, 33, 1000, 70_000]) {
      const message = random(size);
      const nonce = random(24);
      const sealed = sealBox(message, nonce, server.publicKey, sender);
      expect(sealed).toEqual(nacl.box(message, nonce, server.publicKey, gateway.secretKey));
      expect(openBox(sealed, nonce, gateway.publicKey, recipient)).toEqual(message);
      expect(nacl.box.open(sealed, nonce, gateway.publicKey, server.secretKey)).toEqual(message);
    }
  });

  it('refuses tampered boxes, wrong nonces and wrong keys', () => {
    const a = BoxSecretKey.generate(random);
    const b = BoxSecretKey.generate(random);
    const key = a.sharedKey(b.publicKey);
    const nonce = random(24);
    const sealed = sealWithSharedKey(encoder.encode('hello'), nonce, key);
    const tampered = sealed.slice();
    tampered[20] = (tampered[20] ?? 0) ^ 1;
    expect(openWithSharedKey(tampered, nonce, key)).toBeNull();
    expect(openWithSharedKey(sealed, random(24), key)).toBeNull();
    expect(openWithSharedKey(sealed, nonce, BoxSecretKey.generate(random).sharedKey(b.publicKey))).toBeNull();
    expect(openWithSharedKey(sealed.subarray(0, 15), nonce, key)).toBeNull();
    expect(() => sealWithSharedKey(sealed, new Uint8Array(23), key)).toThrow('box nonce must be 24 bytes, got 23');
  });

  it.each([
    ['zero', '0000000000000000000000000000000000000000000000000000000000000000'],
    ['one', '0100000000000000000000000000000000000000000000000000000000000000'],
    ['order 8', 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800'],
  ])('rejects the low-order public key %s, as libsodium does', (_name, hex) => {
    expect(() => BoxSecretKey.generate(random).sharedKey(Buffer.from(hex, 'hex'))).toThrow(CryptoError);
  });

  it('rejects keys of the wrong length', () => {
    expect(() => BoxSecretKey.fromBytes(new Uint8Array(31))).toThrow('X25519 secret key must be 32 bytes, got 31');
    expect(() => BoxSecretKey.generate(random).sharedKey(new Uint8Array(33))).toThrow('X25519 public key must be 32 bytes, got 33');
  });
});

describe('SharedKeyCache', () => {
  it('computes each peer once and evicts the least recently used', () => {
    const server = BoxSecretKey.generate(random);
    const cache = new SharedKeyCache(server, 2);
    const [p1, p2, p3] = [1, 2, 3].map(() => BoxSecretKey.generate(random).publicKey) as [Uint8Array, Uint8Array, Uint8Array];
    expect(cache.sharedKey(p1)).toEqual(server.sharedKey(p1));
    cache.sharedKey(p2);
    cache.sharedKey(p1); // p1 is now most recently used
    cache.sharedKey(p3); // evicts p2
    expect([cache.hits, cache.misses, cache.size]).toEqual([1, 3, 2]);
    cache.sharedKey(p1);
    expect(cache.hits).toBe(2);
    cache.sharedKey(p2);
    expect(cache.misses).toBe(4);
  });
});

describe('Ed25519 with native signing', () => {
  it('matches NaCl keys and signatures byte for byte, and verifies both ways', () => {
    for (let i = 0; i < 10; i++) {
      const seed = random(32);
      const reference = nacl.sign.keyPair.fromSeed(seed);
      const key = SigningKey.fromSeed(seed);
      expect(key.publicKey).toEqual(reference.publicKey);
      expect(key.secretKey).toEqual(reference.secretKey);
      const message = random(i * 37);
      const signature = key.sign(message);
      expect(signature).toEqual(nacl.sign.detached(message, reference.secretKey));
      expect(nacl.sign.detached.verify(message, signature, reference.publicKey)).toBe(true);
      expect(VerifyKey.fromBytes(reference.publicKey).verify(message, signature)).toBe(true);
    }
  });

  it('rejects forged signatures and foreign keys', () => {
    const key = SigningKey.generate(random);
    const message = encoder.encode('token');
    const signature = key.sign(message);
    const forged = signature.slice();
    forged[0] = (forged[0] ?? 0) ^ 1;
    const verifier = VerifyKey.fromBytes(key.publicKey);
    expect(verifier.verify(message, forged)).toBe(false);
    expect(verifier.verify(encoder.encode('tokeN'), signature)).toBe(false);
    expect(verifier.verify(message, signature.subarray(0, 63))).toBe(false);
    expect(VerifyKey.fromBytes(SigningKey.generate(random).publicKey).verify(message, signature)).toBe(false);
  });

  it("accepts libsodium's 64-byte secret key only when its halves agree", () => {
    const key = SigningKey.generate(random);
    expect(SigningKey.fromSecretKey(key.secretKey).publicKey).toEqual(key.publicKey);
    const mismatched = key.secretKey;
    mismatched[40] = (mismatched[40] ?? 0) ^ 1;
    expect(() => SigningKey.fromSecretKey(mismatched)).toThrow('its public half does not belong to its seed');
  });

  it('names keys by the first 8 bytes of SHA-256 of the public key', () => {
    const key = SigningKey.generate(random);
    expect(key.keyId).toBe(createHash('sha256').update(key.publicKey).digest('hex').slice(0, 16));
    expect(keyId(key.publicKey)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('configHash', () => {
  const sha256 = (...parts: Array<string | number[]>): string => {
    const hash = createHash('sha256');
    for (const part of parts) hash.update(typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part));
    return hash.digest('hex');
  };

  it('is SHA-256 of the package name alone without logins', () => {
    expect(toHex(configHash('md-gateway', []))).toBe(sha256('md-gateway'));
  });

  it('appends 0x00 and each login, sorted and deduplicated', () => {
    expect(toHex(configHash('fix-gateway', ['A2', 'A1', 'A2']))).toBe(sha256('fix-gateway', [0], 'A1', [0], 'A2'));
  });

  it('sorts by UTF-8 bytes, not by JavaScript string order', () => {
    // U+FF21 sorts after U+1F600 in UTF-16 code units but before it in UTF-8 bytes.
    expect(toHex(configHash('p', ['\u{1F600}', '\uFF21']))).toBe(sha256('p', [0], '\uFF21', [0], '\u{1F600}'));
  });

  it('tells login sets apart', () => {
    expect(configHash('p', ['A1', 'A2'])).toEqual(configHash('p', ['A2', 'A1']));
    expect(configHash('p', ['A1', 'A2'])).not.toEqual(configHash('p', ['A1', 'A2', 'A3']));
    expect(configHash('p', ['A1'])).not.toEqual(configHash('q', ['A1']));
  });

  it('refuses names that would make hashes ambiguous', () => {
    expect(() => configHash('p', ['A\0B'])).toThrow(/must be non-empty and free of NUL/);
    expect(() => configHash('p', [''])).toThrow(/must be non-empty/);
    expect(() => configHash('', [])).toThrow(/package name/);
  });
});

describe('key files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keys-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a box key pair: secret 0600, public key one line of base64', () => {
    const written = writeKeyPairFiles({ dir, name: 'gateway', kind: 'box' });
    expect(statSync(written.secretKeyPath).mode & 0o777).toBe(0o600);
    const publicLine = readFileSync(written.publicKeyPath, 'utf8');
    expect(publicLine).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    const secret = readBoxSecretKeyFile(written.secretKeyPath);
    expect(secret.publicKey).toEqual(written.publicKey);
    expect(readPublicKeyFile(written.publicKeyPath)).toEqual(written.publicKey);
    expect(nacl.box.keyPair.fromSecretKey(secret.secretKey).publicKey).toEqual(written.publicKey);
  });

  it('writes a signing key pair', () => {
    const written = writeKeyPairFiles({ dir, name: 'server-sign', kind: 'sign' });
    const key = readSigningKeyFile(written.secretKeyPath);
    expect(key.publicKey).toEqual(written.publicKey);
    expect(key.keyId).toBe(written.keyId);
  });

  it('reads a libsodium 64-byte Ed25519 secret key file', () => {
    const key = SigningKey.generate(random);
    const path = join(dir, 'sodium.key');
    writeFileSync(path, `${toBase64(key.secretKey)}\n`, { mode: 0o600 });
    expect(readSigningKeyFile(path).publicKey).toEqual(key.publicKey);
  });

  it('never overwrites a key and refuses a secret key others can read', () => {
    const written = writeKeyPairFiles({ dir, name: 'gateway', kind: 'box' });
    expect(() => writeKeyPairFiles({ dir, name: 'gateway', kind: 'box' })).toThrow(/already exists; refusing to overwrite a key/);
    chmodSync(written.secretKeyPath, 0o644);
    expect(() => readBoxSecretKeyFile(written.secretKeyPath)).toThrow(/has mode 0644; a secret key file must not be accessible by group or others/);
  });

  it('accepts only strict standard base64', () => {
    expect(() => fromBase64('AAAA*AAA')).toThrow('base64 is not standard base64');
    expect(() => fromBase64('AAA')).toThrow(CryptoError);
    expect(() => fromBase64('_-__')).toThrow(CryptoError); // base64url is not standard base64
    expect(fromBase64('AAE=')).toEqual(Uint8Array.of(0, 1));
  });
});
