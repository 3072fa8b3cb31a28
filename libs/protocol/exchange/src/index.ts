/**
 * The license exchange of the gateway protocol (docs/protocol.md), without HTTP: gateways seal
 * requests and verify tokens; the server opens requests and signs and seals tokens.
 */
export { LICENSE_CONTENT_TYPE, LICENSE_KEYS_PATH, LICENSE_PATH, SUPPORT_TOKEN_MAX_VALIDITY_MS, TOKEN_SIGNATURE_CONTEXT } from './constants';
export { InvalidRequestError, TokenRejectedError, licenseErrorBody, licenseErrorReasons, parseLicenseErrorBody, type LicenseErrorBody, type LicenseErrorReason } from './errors';
export { signToken, tokenSigningMessage, verifySignedToken } from './token-signature';
export { LicenseServerCrypto, type OpenedRequest, type ServerKeysDocument } from './server';
export { checkTokenIsFor, openLicenseResponse, sealLicenseRequest, type ExpectedToken } from './gateway';
export { openSupportToken, sealSupportToken } from './support-token';
export { LICENSE_RELEASE_PATH, ReleaseAnswerRejectedError, openReleaseAnswer, openReleaseRequest, sealReleaseAnswer, sealReleaseRequest, type OpenedRelease } from './release';
export { buildTestVectors, type TestVectors } from './test-vectors';
