import * as flatbuffers from 'flatbuffers';
import { copyBytes, requireLength } from './codec';
import { WireFormatError } from './errors';
import * as fb from './generated/license_generated';
import { type FieldKind, verifyTable } from './verify';
import { PUBLIC_KEY_BYTES } from './access-token';

export const BOX_NONCE_BYTES = 24;
/** Poly1305 tag that crypto_box_easy puts in front of the ciphertext. */
export const BOX_MAC_BYTES = 16;

export const sealedFields = [
  ['public_key', 'bytes'],
  ['nonce', 'bytes'],
  ['box', 'bytes'],
] as const satisfies ReadonlyArray<readonly [string, FieldKind]>;

/** A crypto_box_easy ciphertext with the sender's public key and the nonce needed to open it. */
export interface Sealed {
  readonly publicKey: Uint8Array;
  readonly nonce: Uint8Array;
  readonly box: Uint8Array;
}

function validate(sealed: Sealed): void {
  requireLength('Sealed.public_key', sealed.publicKey, PUBLIC_KEY_BYTES);
  requireLength('Sealed.nonce', sealed.nonce, BOX_NONCE_BYTES);
  if (sealed.box.byteLength < BOX_MAC_BYTES) throw new WireFormatError(`Sealed.box must be at least ${BOX_MAC_BYTES} bytes, got ${sealed.box.byteLength}`);
}

export function encodeSealed(sealed: Sealed): Uint8Array {
  validate(sealed);
  const builder = new flatbuffers.Builder(sealed.box.byteLength + 128);
  const publicKey = fb.Sealed.createPublicKeyVector(builder, sealed.publicKey);
  const nonce = fb.Sealed.createNonceVector(builder, sealed.nonce);
  const box = fb.Sealed.createBoxVector(builder, sealed.box);
  fb.Sealed.startSealed(builder);
  fb.Sealed.addPublicKey(builder, publicKey);
  fb.Sealed.addNonce(builder, nonce);
  fb.Sealed.addBox(builder, box);
  builder.finish(fb.Sealed.endSealed(builder));
  return builder.asUint8Array().slice();
}

export function decodeSealed(bytes: Uint8Array): Sealed {
  verifyTable('Sealed', bytes, sealedFields, ['public_key', 'nonce', 'box']);
  const s = fb.Sealed.getRootAsSealed(new flatbuffers.ByteBuffer(bytes));
  const sealed: Sealed = { publicKey: copyBytes(s.publicKeyArray()), nonce: copyBytes(s.nonceArray()), box: copyBytes(s.boxArray()) };
  validate(sealed);
  return sealed;
}
