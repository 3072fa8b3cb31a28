import * as flatbuffers from 'flatbuffers';
import { copyBytes, int64, requireLength, requireNonEmpty, utf8 } from './codec';
import { WireFormatError } from './errors';
import * as fb from './generated/license_generated';
import { CONFIG_HASH_BYTES, REQUEST_NONCE_BYTES } from './license-request';
import { type FieldKind, verifyTable } from './verify';

export const PUBLIC_KEY_BYTES = 32;

export const accessTokenFields = [
  ['token_id', 'str'],
  ['agreement_id', 'str'],
  ['gateway_public_key', 'bytes'],
  ['config_hash', 'bytes'],
  ['package_name', 'str'],
  ['issued_time_utc', 'i64'],
  ['expiry_time_utc', 'i64'],
  ['nonce', 'bytes'],
  ['renew_time_utc', 'i64'],
] as const satisfies ReadonlyArray<readonly [string, FieldKind]>;

/** What the server grants: a gateway key and config may run a package until expiry. Times are ns since the epoch. */
export interface AccessToken {
  readonly tokenId: string;
  readonly agreementId: string;
  readonly gatewayPublicKey: Uint8Array;
  readonly configHash: Uint8Array;
  readonly packageName: string;
  readonly issuedTimeUtc: bigint;
  readonly expiryTimeUtc: bigint;
  readonly nonce: Uint8Array;
  readonly renewTimeUtc: bigint;
}

function validate(token: AccessToken): void {
  requireNonEmpty('AccessToken.token_id', token.tokenId);
  requireNonEmpty('AccessToken.agreement_id', token.agreementId);
  requireLength('AccessToken.gateway_public_key', token.gatewayPublicKey, PUBLIC_KEY_BYTES);
  requireLength('AccessToken.config_hash', token.configHash, CONFIG_HASH_BYTES);
  requireNonEmpty('AccessToken.package_name', token.packageName);
  requireLength('AccessToken.nonce', token.nonce, REQUEST_NONCE_BYTES);
  if (token.expiryTimeUtc <= token.issuedTimeUtc) {
    throw new WireFormatError(`AccessToken.expiry_time_utc (${token.expiryTimeUtc}) must be after issued_time_utc (${token.issuedTimeUtc})`);
  }
}

export function encodeAccessToken(token: AccessToken): Uint8Array {
  validate(token);
  const builder = new flatbuffers.Builder(256);
  const tokenId = builder.createString(token.tokenId);
  const agreementId = builder.createString(token.agreementId);
  const gatewayPublicKey = fb.AccessToken.createGatewayPublicKeyVector(builder, token.gatewayPublicKey);
  const configHash = fb.AccessToken.createConfigHashVector(builder, token.configHash);
  const packageName = builder.createString(token.packageName);
  const nonce = fb.AccessToken.createNonceVector(builder, token.nonce);
  fb.AccessToken.startAccessToken(builder);
  fb.AccessToken.addTokenId(builder, tokenId);
  fb.AccessToken.addAgreementId(builder, agreementId);
  fb.AccessToken.addGatewayPublicKey(builder, gatewayPublicKey);
  fb.AccessToken.addConfigHash(builder, configHash);
  fb.AccessToken.addPackageName(builder, packageName);
  fb.AccessToken.addIssuedTimeUtc(builder, int64('AccessToken.issued_time_utc', token.issuedTimeUtc));
  fb.AccessToken.addExpiryTimeUtc(builder, int64('AccessToken.expiry_time_utc', token.expiryTimeUtc));
  fb.AccessToken.addNonce(builder, nonce);
  fb.AccessToken.addRenewTimeUtc(builder, int64('AccessToken.renew_time_utc', token.renewTimeUtc));
  builder.finish(fb.AccessToken.endAccessToken(builder));
  return builder.asUint8Array().slice();
}

export function decodeAccessToken(bytes: Uint8Array): AccessToken {
  verifyTable('AccessToken', bytes, accessTokenFields, ['token_id', 'agreement_id', 'gateway_public_key', 'config_hash', 'package_name', 'nonce']);
  const t = fb.AccessToken.getRootAsAccessToken(new flatbuffers.ByteBuffer(bytes));
  const token: AccessToken = {
    tokenId: utf8('AccessToken.token_id', t.tokenId(flatbuffers.Encoding.UTF8_BYTES)),
    agreementId: utf8('AccessToken.agreement_id', t.agreementId(flatbuffers.Encoding.UTF8_BYTES)),
    gatewayPublicKey: copyBytes(t.gatewayPublicKeyArray()),
    configHash: copyBytes(t.configHashArray()),
    packageName: utf8('AccessToken.package_name', t.packageName(flatbuffers.Encoding.UTF8_BYTES)),
    issuedTimeUtc: t.issuedTimeUtc(),
    expiryTimeUtc: t.expiryTimeUtc(),
    nonce: copyBytes(t.nonceArray()),
    renewTimeUtc: t.renewTimeUtc(),
  };
  validate(token);
  return token;
}
