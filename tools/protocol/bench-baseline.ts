/**
 * The pure-JavaScript baseline for bench.ts: the same server work done entirely with tweetnacl, which
 * is what the server must NOT do on its hot path. Kept apart from server code on purpose.
 */
import nacl from 'tweetnacl';
import { decodeLicenseRequest, decodeSealed, encodeAccessToken, encodeSealed, encodeSignedToken, type AccessToken } from '@license-ledger/protocol-wire';
import { tokenSigningMessage } from '@license-ledger/protocol-exchange';

export function pureTweetnaclRoundTrip(body: Uint8Array, serverBoxSecret: Uint8Array, serverBoxPublic: Uint8Array, signSecret: Uint8Array, tokenOf: (gateway: Uint8Array) => AccessToken): Uint8Array {
  const sealed = decodeSealed(body);
  const payload = nacl.box.open(sealed.box, sealed.nonce, sealed.publicKey, serverBoxSecret);
  if (!payload) throw new Error('baseline: box does not open');
  decodeLicenseRequest(payload);
  const token = encodeAccessToken(tokenOf(sealed.publicKey));
  const signed = encodeSignedToken({ token, signature: nacl.sign.detached(tokenSigningMessage(token), signSecret), keyId: 'baseline' });
  const nonce = nacl.randomBytes(24);
  return encodeSealed({ publicKey: serverBoxPublic, nonce, box: nacl.box(signed, nonce, sealed.publicKey, serverBoxSecret) });
}
