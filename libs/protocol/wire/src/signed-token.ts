import * as flatbuffers from 'flatbuffers';
import { copyBytes, requireLength, requireNonEmpty, utf8 } from './codec';
import * as fb from './generated/license_generated';
import { type FieldKind, verifyTable } from './verify';

export const SIGNATURE_BYTES = 64;

export const signedTokenFields = [
  ['token', 'bytes'],
  ['signature', 'bytes'],
  ['key_id', 'str'],
] as const satisfies ReadonlyArray<readonly [string, FieldKind]>;

/** An AccessToken's bytes with the server's Ed25519 signature over them (see docs/protocol.md). */
export interface SignedToken {
  readonly token: Uint8Array;
  readonly signature: Uint8Array;
  readonly keyId: string;
}

function validate(signed: SignedToken): void {
  requireNonEmpty('SignedToken.token', signed.token);
  requireLength('SignedToken.signature', signed.signature, SIGNATURE_BYTES);
  requireNonEmpty('SignedToken.key_id', signed.keyId);
}

export function encodeSignedToken(signed: SignedToken): Uint8Array {
  validate(signed);
  const builder = new flatbuffers.Builder(512);
  const token = fb.SignedToken.createTokenVector(builder, signed.token);
  const signature = fb.SignedToken.createSignatureVector(builder, signed.signature);
  const keyId = builder.createString(signed.keyId);
  fb.SignedToken.startSignedToken(builder);
  fb.SignedToken.addToken(builder, token);
  fb.SignedToken.addSignature(builder, signature);
  fb.SignedToken.addKeyId(builder, keyId);
  builder.finish(fb.SignedToken.endSignedToken(builder));
  return builder.asUint8Array().slice();
}

/** Decodes the envelope only: the token's bytes are decoded after their signature is checked. */
export function decodeSignedToken(bytes: Uint8Array): SignedToken {
  verifyTable('SignedToken', bytes, signedTokenFields, ['token', 'signature', 'key_id']);
  const s = fb.SignedToken.getRootAsSignedToken(new flatbuffers.ByteBuffer(bytes));
  const signed: SignedToken = {
    token: copyBytes(s.tokenArray()),
    signature: copyBytes(s.signatureArray()),
    keyId: utf8('SignedToken.key_id', s.keyId(flatbuffers.Encoding.UTF8_BYTES)),
  };
  validate(signed);
  return signed;
}
