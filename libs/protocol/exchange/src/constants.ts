/** Ed25519 signs this ASCII context followed by the AccessToken bytes, so a signature means nothing elsewhere. */
export const TOKEN_SIGNATURE_CONTEXT = 'license-ledger/token/v1';
export const LICENSE_PATH = '/v1/license';
export const LICENSE_KEYS_PATH = '/v1/license/keys';
export const LICENSE_CONTENT_TYPE = 'application/octet-stream';
/**
 * A support token is valid for at most this long after its issue (gateways refuse longer ones): the
 * ledger's own bound on support locks (SUPPORT_LOCK_MAX_MS in libs/lease/domain), so a leaked
 * support key cannot mint a token that outlives it by years.
 */
export const SUPPORT_TOKEN_MAX_VALIDITY_MS = 30 * 24 * 3_600_000;
