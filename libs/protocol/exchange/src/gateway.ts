import { bytesEqual, openWithSharedKey, sealWithSharedKey, toHex, type BoxSecretKey, type RandomBytes, type VerifyKey } from '@license-ledger/protocol-crypto';
import { BOX_NONCE_BYTES, decodeSealed, decodeSignedToken, encodeLicenseRequest, encodeSealed, type AccessToken, type LicenseRequest } from '@license-ledger/protocol-wire';
import { TokenRejectedError } from './errors';
import { verifySignedToken } from './token-signature';

/** Body of POST /v1/license: the request sealed from the gateway's key to the server's box key. */
export function sealLicenseRequest(options: { request: LicenseRequest; gatewayKey: BoxSecretKey; serverBoxPublicKey: Uint8Array; random: RandomBytes }): Uint8Array {
  const nonce = options.random(BOX_NONCE_BYTES);
  const box = sealWithSharedKey(encodeLicenseRequest(options.request), nonce, options.gatewayKey.sharedKey(options.serverBoxPublicKey));
  return encodeSealed({ publicKey: options.gatewayKey.publicKey, nonce, box });
}

/** What the token must be about; `nonce` is omitted only when re-opening a cached response. */
export interface ExpectedToken {
  readonly configHash: Uint8Array;
  readonly packageName: string;
  readonly nonce?: Uint8Array;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Opens a 200 body and accepts its token only if it comes from the pinned server keys and is about
 * this gateway: its key, config hash, package and (for a fresh exchange) the request's nonce. Expiry
 * is the caller's check, as it needs the clock. Throws TokenRejectedError otherwise.
 */
export function openLicenseResponse(options: { body: Uint8Array; gatewayKey: BoxSecretKey; serverBoxPublicKey: Uint8Array; serverVerifyKey: VerifyKey; expected: ExpectedToken }): AccessToken {
  const { gatewayKey, expected } = options;
  let token: AccessToken;
  try {
    const sealed = decodeSealed(options.body);
    if (!bytesEqual(sealed.publicKey, options.serverBoxPublicKey)) {
      throw new TokenRejectedError(`response is sealed by box key ${toHex(sealed.publicKey)}, not by the configured server box key`);
    }
    const payload = openWithSharedKey(sealed.box, sealed.nonce, gatewayKey.sharedKey(sealed.publicKey));
    if (payload === null) throw new TokenRejectedError('response box does not open with this gateway key (sealed for another gateway, or altered)');
    token = verifySignedToken(decodeSignedToken(payload), options.serverVerifyKey);
  } catch (error: unknown) {
    if (error instanceof TokenRejectedError) throw error;
    throw new TokenRejectedError(`response is not a valid sealed token: ${errorText(error)}`);
  }
  return checkTokenIsFor(token, gatewayKey.publicKey, expected);
}

/** Accepts a verified token only if it is about this gateway: its key, config hash, package and (if given) nonce. */
export function checkTokenIsFor(token: AccessToken, gatewayPublicKey: Uint8Array, expected: ExpectedToken): AccessToken {
  if (!bytesEqual(token.gatewayPublicKey, gatewayPublicKey)) throw new TokenRejectedError('token was issued to another gateway key');
  if (!bytesEqual(token.configHash, expected.configHash)) throw new TokenRejectedError('token was issued for another configuration (config hash differs)');
  if (token.packageName !== expected.packageName) throw new TokenRejectedError(`token was issued for package "${token.packageName}", not "${expected.packageName}"`);
  if (expected.nonce && !bytesEqual(token.nonce, expected.nonce)) throw new TokenRejectedError("token does not echo this request's nonce (replayed response?)");
  return token;
}
