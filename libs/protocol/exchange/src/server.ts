import { SharedKeyCache, keyId, openWithSharedKey, sealWithSharedKey, systemRandom, toBase64, toHex, type BoxSecretKey, type RandomBytes, type SigningKey } from '@license-ledger/protocol-crypto';
import { BOX_NONCE_BYTES, decodeLicenseRequest, decodeSealed, encodeSealed, encodeSignedToken, type AccessToken, type LicenseRequest, type Sealed } from '@license-ledger/protocol-wire';
import { InvalidRequestError } from './errors';
import { signToken } from './token-signature';

/** Body of GET /v1/license/keys: the server's two public keys (standard base64) with their key ids. */
export interface ServerKeysDocument {
  readonly box: { readonly key_id: string; readonly public_key: string };
  readonly sign: { readonly key_id: string; readonly public_key: string };
}

export interface OpenedRequest {
  readonly gatewayPublicKey: Uint8Array;
  readonly request: LicenseRequest;
  /** The LicenseRequest FlatBuffer `request` was decoded from, as sealed (the telemetry record carries it). */
  readonly requestBytes: Uint8Array;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The server's side of POST /v1/license, without HTTP: open a sealed request, and sign and seal a
 * token for its gateway. Public-key work is native and each gateway's precomputed box key is cached.
 */
export class LicenseServerCrypto {
  readonly boxKeyId: string;
  private readonly sharedKeys: SharedKeyCache;
  private readonly signingKey: SigningKey;
  private readonly random: RandomBytes;

  constructor(options: { boxKey: BoxSecretKey; signingKey: SigningKey; cacheCapacity?: number; random?: RandomBytes }) {
    this.sharedKeys = new SharedKeyCache(options.boxKey, options.cacheCapacity);
    this.signingKey = options.signingKey;
    this.random = options.random ?? systemRandom;
    this.boxKeyId = keyId(options.boxKey.publicKey);
  }

  get boxPublicKey(): Uint8Array {
    return this.sharedKeys.secretKey.publicKey;
  }

  get cacheStats(): { hits: number; misses: number; size: number } {
    return { hits: this.sharedKeys.hits, misses: this.sharedKeys.misses, size: this.sharedKeys.size };
  }

  keysDocument(): ServerKeysDocument {
    return {
      box: { key_id: this.boxKeyId, public_key: toBase64(this.boxPublicKey) },
      sign: { key_id: this.signingKey.keyId, public_key: toBase64(this.signingKey.publicKey) },
    };
  }

  /** Throws InvalidRequestError (answer 400 invalid_request) for anything that is not a request sealed to us. */
  openRequest(body: Uint8Array): OpenedRequest {
    const { gatewayPublicKey, payload } = this.openSealed(body);
    try {
      return { gatewayPublicKey, request: decodeLicenseRequest(payload), requestBytes: payload };
    } catch (error: unknown) {
      throw new InvalidRequestError(`box does not hold a valid LicenseRequest: ${errorText(error)}`);
    }
  }

  /**
   * Opens any Sealed addressed to the server's box key (a LicenseRequest's or a ReleaseRequest's):
   * the sender's public key and the plaintext. Throws InvalidRequestError.
   */
  openSealed(body: Uint8Array): { readonly gatewayPublicKey: Uint8Array; readonly payload: Uint8Array } {
    let sealed: Sealed;
    try {
      sealed = decodeSealed(body);
    } catch (error: unknown) {
      throw new InvalidRequestError(`body is not a Sealed message: ${errorText(error)}`);
    }
    let sharedKey: Uint8Array;
    try {
      sharedKey = this.sharedKeys.sharedKey(sealed.publicKey);
    } catch (error: unknown) {
      throw new InvalidRequestError(`unusable gateway public key ${toHex(sealed.publicKey)}: ${errorText(error)}`);
    }
    const payload = openWithSharedKey(sealed.box, sealed.nonce, sharedKey);
    if (payload === null) throw new InvalidRequestError(`box does not open with server key ${this.boxKeyId} and the given gateway public key (sealed to another key, or altered)`);
    return { gatewayPublicKey: sealed.publicKey, payload };
  }

  /** The 200 body: a Sealed from the server to the token's gateway, holding the SignedToken. */
  sealToken(token: AccessToken): Uint8Array {
    return this.sealTo(token.gatewayPublicKey, encodeSignedToken(signToken(token, this.signingKey)));
  }

  /** A Sealed from the server's box key to `gatewayPublicKey` holding `payload` (a SignedToken, a ReleaseAnswer). */
  sealTo(gatewayPublicKey: Uint8Array, payload: Uint8Array): Uint8Array {
    const nonce = this.random(BOX_NONCE_BYTES);
    const box = sealWithSharedKey(payload, nonce, this.sharedKeys.sharedKey(gatewayPublicKey));
    return encodeSealed({ publicKey: this.boxPublicKey, nonce, box });
  }
}
