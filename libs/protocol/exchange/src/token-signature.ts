import { concatBytes, type SigningKey, type VerifyKey } from '@license-ledger/protocol-crypto';
import { decodeAccessToken, encodeAccessToken, type AccessToken, type SignedToken } from '@license-ledger/protocol-wire';
import { TOKEN_SIGNATURE_CONTEXT } from './constants';
import { TokenRejectedError } from './errors';

const context = new TextEncoder().encode(TOKEN_SIGNATURE_CONTEXT);

/** The bytes Ed25519 signs: the ASCII context, then the AccessToken buffer. */
export function tokenSigningMessage(tokenBytes: Uint8Array): Uint8Array {
  return concatBytes(context, tokenBytes);
}

export function signToken(token: AccessToken, key: SigningKey): SignedToken {
  const bytes = encodeAccessToken(token);
  return { token: bytes, signature: key.sign(tokenSigningMessage(bytes)), keyId: key.keyId };
}

/** Checks key id and signature before decoding a single byte of the token; `what` names the key in errors. */
export function verifySignedToken(signed: SignedToken, key: VerifyKey, what = 'server signing key'): AccessToken {
  if (signed.keyId !== key.keyId) throw new TokenRejectedError(`token is signed by key id "${signed.keyId}", not by the configured ${what} "${key.keyId}"`);
  if (!key.verify(tokenSigningMessage(signed.token), signed.signature)) throw new TokenRejectedError(`token signature does not verify with the configured ${what} (forged or corrupted token)`);
  return decodeAccessToken(signed.token);
}
