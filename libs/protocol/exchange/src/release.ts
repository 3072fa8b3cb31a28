import { bytesEqual, openWithSharedKey, sealWithSharedKey, toHex, type BoxSecretKey, type RandomBytes } from '@license-ledger/protocol-crypto';
import { BOX_NONCE_BYTES, decodeReleaseAnswer, decodeReleaseRequest, decodeSealed, encodeReleaseAnswer, encodeReleaseRequest, encodeSealed, type ReleaseAnswer, type ReleaseRequest } from '@license-ledger/protocol-wire';
import { InvalidRequestError } from './errors';
import type { LicenseServerCrypto } from './server';

/*
 * The release exchange (docs/protocol.md "Release"), without HTTP: a gateway process that stops
 * cleanly seals a ReleaseRequest exactly as it seals a LicenseRequest, and the server answers a
 * release with a ReleaseAnswer sealed exactly as a token is (but not signed).
 */

export const LICENSE_RELEASE_PATH = '/v1/license/release';

/** Body of POST /v1/license/release: the request sealed from the gateway's key to the server's box key. */
export function sealReleaseRequest(options: { request: ReleaseRequest; gatewayKey: BoxSecretKey; serverBoxPublicKey: Uint8Array; random: RandomBytes }): Uint8Array {
  const nonce = options.random(BOX_NONCE_BYTES);
  const box = sealWithSharedKey(encodeReleaseRequest(options.request), nonce, options.gatewayKey.sharedKey(options.serverBoxPublicKey));
  return encodeSealed({ publicKey: options.gatewayKey.publicKey, nonce, box });
}

export interface OpenedRelease {
  readonly gatewayPublicKey: Uint8Array;
  readonly request: ReleaseRequest;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The server's side: throws InvalidRequestError (answer 400 invalid_request) for anything but a ReleaseRequest sealed to it. */
export function openReleaseRequest(crypto: LicenseServerCrypto, body: Uint8Array): OpenedRelease {
  const { gatewayPublicKey, payload } = crypto.openSealed(body);
  try {
    return { gatewayPublicKey, request: decodeReleaseRequest(payload) };
  } catch (error: unknown) {
    throw new InvalidRequestError(`box does not hold a valid ReleaseRequest: ${errorText(error)}`);
  }
}

/** The 200 body of a release: a Sealed from the server's box key to the gateway holding the ReleaseAnswer. */
export function sealReleaseAnswer(crypto: LicenseServerCrypto, gatewayPublicKey: Uint8Array, answer: ReleaseAnswer): Uint8Array {
  return crypto.sealTo(gatewayPublicKey, encodeReleaseAnswer(answer));
}

/** An answer to a release the gateway must not trust: not from the pinned server, altered, or about another request. */
export class ReleaseAnswerRejectedError extends Error {
  override readonly name = 'ReleaseAnswerRejectedError';
}

/**
 * The gateway's side: accepts a 200 body only if it is sealed by the pinned server box key to this
 * gateway and answers this very request (its nonce and config hash). Throws ReleaseAnswerRejectedError.
 */
export function openReleaseAnswer(options: { body: Uint8Array; gatewayKey: BoxSecretKey; serverBoxPublicKey: Uint8Array; expected: { nonce: Uint8Array; configHash: Uint8Array } }): ReleaseAnswer {
  let answer: ReleaseAnswer;
  try {
    const sealed = decodeSealed(options.body);
    if (!bytesEqual(sealed.publicKey, options.serverBoxPublicKey)) {
      throw new ReleaseAnswerRejectedError(`answer is sealed by box key ${toHex(sealed.publicKey)}, not by the configured server box key`);
    }
    const payload = openWithSharedKey(sealed.box, sealed.nonce, options.gatewayKey.sharedKey(sealed.publicKey));
    if (payload === null) throw new ReleaseAnswerRejectedError('answer box does not open with this gateway key (sealed for another gateway, or altered)');
    answer = decodeReleaseAnswer(payload);
  } catch (error: unknown) {
    if (error instanceof ReleaseAnswerRejectedError) throw error;
    throw new ReleaseAnswerRejectedError(`answer is not a valid sealed ReleaseAnswer: ${errorText(error)}`);
  }
  if (!bytesEqual(answer.nonce, options.expected.nonce)) throw new ReleaseAnswerRejectedError("answer does not echo this release's nonce (replayed answer?)");
  if (!bytesEqual(answer.configHash, options.expected.configHash)) throw new ReleaseAnswerRejectedError('answer is about another configuration (config hash differs)');
  return answer;
}
