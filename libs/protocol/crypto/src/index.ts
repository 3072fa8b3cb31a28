/**
 * Keys and crypto of the gateway protocol, byte-compatible with libsodium: crypto_box (X25519 +
 * XSalsa20-Poly1305) with per-peer precomputed keys, Ed25519 signatures, key ids, key files and the
 * config hash. Public-key operations run in Node's native crypto.
 */
export { CryptoError } from './errors';
export { bytesEqual, concatBytes, fromBase64, fromHex, plain, toBase64, toHex, type RandomBytes } from './bytes';
export { hsalsa20 } from './hsalsa20';
export {
  BOX_MAC_BYTES,
  BOX_NONCE_BYTES,
  BOX_PUBLIC_KEY_BYTES,
  BOX_SECRET_KEY_BYTES,
  BOX_SHARED_KEY_BYTES,
  BoxSecretKey,
  SharedKeyCache,
  openBox,
  openWithSharedKey,
  sealBox,
  sealWithSharedKey,
} from './box';
export { SIGNATURE_BYTES, SIGN_PUBLIC_KEY_BYTES, SIGN_SECRET_KEY_BYTES, SIGN_SEED_BYTES, SigningKey, VerifyKey, keyId } from './ed25519';
export { configHash } from './config-hash';
export { parsePublicKey, readBoxSecretKeyFile, readPublicKeyFile, readSigningKeyFile, systemRandom, writeKeyPairFiles, type KeyKind, type WrittenKeyPair } from './key-files';
