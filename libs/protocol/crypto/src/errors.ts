/** A key, box or signature that cannot be used: wrong length, bad encoding, failed authentication. */
export class CryptoError extends Error {
  override readonly name = 'CryptoError';
}
