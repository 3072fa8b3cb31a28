/** Ed25519 signs this ASCII context followed by the AccessToken bytes, so a signature means nothing elsewhere. */
export const TOKEN_SIGNATURE_CONTEXT = 'license-ledger/token/v1';
export const LICENSE_PATH = '/v1/license';
export const LICENSE_KEYS_PATH = '/v1/license/keys';
export const LICENSE_CONTENT_TYPE = 'application/octet-stream';
