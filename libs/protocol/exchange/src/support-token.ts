import { BoxSecretKey, openWithSharedKey, sealWithSharedKey, type RandomBytes, type SigningKey, type VerifyKey } from '@license-ledger/protocol-crypto';
import { BOX_NONCE_BYTES, decodeSealed, decodeSignedToken, encodeSealed, encodeSignedToken, type AccessToken } from '@license-ledger/protocol-wire';
import { SUPPORT_TOKEN_MAX_VALIDITY_MS } from './constants';
import { TokenRejectedError } from './errors';
import { checkTokenIsFor, type ExpectedToken } from './gateway';
import { signToken, verifySignedToken } from './token-signature';

/*
 * Support tokens (docs/protocol.md "Support tokens"): what ops hand a gateway that cannot reach the
 * license server. The same Sealed holding the same SignedToken as a 200 body, with two differences:
 * the token is signed by the support signing key (named by its key id), so ops machines never need
 * the ingress's secret keys; and the Sealed comes from a one-off X25519 key instead of the server's
 * box key, which support does not have. Only the gateway's key opens it; the signature is what the
 * gateway trusts, as for any token.
 */

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The token-file bytes: a Sealed from a fresh one-off box key to the token's gateway, holding the SignedToken. */
export function sealSupportToken(options: { token: AccessToken; signingKey: SigningKey; random: RandomBytes }): Uint8Array {
  const { token, random } = options;
  const signed = encodeSignedToken(signToken(token, options.signingKey));
  const sender = BoxSecretKey.generate(random);
  const nonce = random(BOX_NONCE_BYTES);
  const box = sealWithSharedKey(signed, nonce, sender.sharedKey(token.gatewayPublicKey));
  return encodeSealed({ publicKey: sender.publicKey, nonce, box });
}

/**
 * Opens a support token and accepts it only if the support key signed it, it is about this gateway
 * (key, config hash, package) and valid for at most SUPPORT_TOKEN_MAX_VALIDITY_MS after its issue.
 * Expiry is the caller's check. Throws TokenRejectedError.
 */
export function openSupportToken(options: { body: Uint8Array; gatewayKey: BoxSecretKey; supportVerifyKey: VerifyKey; expected: ExpectedToken }): AccessToken {
  const { gatewayKey } = options;
  let token: AccessToken;
  try {
    const sealed = decodeSealed(options.body);
    const payload = openWithSharedKey(sealed.box, sealed.nonce, gatewayKey.sharedKey(sealed.publicKey));
    if (payload === null) throw new TokenRejectedError('support token does not open with this gateway key (made for another gateway, or altered)');
    token = verifySignedToken(decodeSignedToken(payload), options.supportVerifyKey, 'support signing key');
  } catch (error: unknown) {
    if (error instanceof TokenRejectedError) throw error;
    throw new TokenRejectedError(`not a valid sealed support token: ${errorText(error)}`);
  }
  const validityMs = (token.expiryTimeUtc - token.issuedTimeUtc) / 1_000_000n;
  if (validityMs > BigInt(SUPPORT_TOKEN_MAX_VALIDITY_MS)) {
    throw new TokenRejectedError(`support token is valid for ${validityMs} ms after its issue; a support token may run at most ${SUPPORT_TOKEN_MAX_VALIDITY_MS / 86_400_000} days`);
  }
  return checkTokenIsFor(token, gatewayKey.publicKey, options.expected);
}
