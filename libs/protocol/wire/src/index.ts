/**
 * The gateway protocol's messages (schema/license.fbs) as typed plain objects: encode, and decode with
 * structural verification and the protocol's length and presence rules. int64/uint64 are bigint.
 */
export { WireFormatError } from './errors';
export { type FieldKind } from './verify';
export { CONFIG_HASH_BYTES, REQUEST_NONCE_BYTES, decodeLicenseRequest, encodeLicenseRequest, licenseRequestFields, type LicenseRequest } from './license-request';
export { PUBLIC_KEY_BYTES, accessTokenFields, decodeAccessToken, encodeAccessToken, type AccessToken } from './access-token';
export { SIGNATURE_BYTES, decodeSignedToken, encodeSignedToken, signedTokenFields, type SignedToken } from './signed-token';
export { BOX_MAC_BYTES, BOX_NONCE_BYTES, decodeSealed, encodeSealed, sealedFields, type Sealed } from './sealed';
export { exampleLicenseRequest } from './example';
export { MAX_TEXT_BYTES, requireStorableText, unstorableText } from './text';
export {
  decodeReleaseAnswer,
  decodeReleaseRequest,
  encodeReleaseAnswer,
  encodeReleaseRequest,
  releaseAnswerFields,
  releaseRequestFields,
  type ReleaseAnswer,
  type ReleaseRequest,
} from './release';
