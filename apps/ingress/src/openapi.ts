import { LICENSE_CONTENT_TYPE, LICENSE_KEYS_PATH, LICENSE_PATH, LICENSE_RELEASE_PATH, licenseErrorReasons } from '@license-ledger/protocol-exchange';

const errorSchema = (status: number, reasons: readonly string[]) => ({
  type: 'object',
  required: ['error', 'reason', 'message'],
  additionalProperties: false,
  properties: {
    error: { type: 'integer', const: status },
    reason: { type: 'string', enum: reasons },
    message: { type: 'string', description: 'Human-readable explanation' },
  },
});

const retryAfter = { 'Retry-After': { description: 'Seconds to wait before retrying', schema: { type: 'integer', minimum: 1 } } };
const json = (schema: string) => ({ 'application/json': { schema: { $ref: `#/components/schemas/${schema}` } } });

/** OpenAPI 3.1 description of the gateways' endpoints (served at GET /openapi.json). */
export function openApiDocument(maxBodyBytes: number): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'License Ledger ingress',
      version: '1.0.0',
      description:
        'The endpoint gateways lock licenses with. Bodies are FlatBuffers messages sealed with NaCl crypto_box; see docs/protocol.md for the messages, keys and rules.',
    },
    paths: {
      [LICENSE_PATH]: {
        post: {
          operationId: 'obtainLicense',
          summary: 'Lock (or renew) a license and get a signed access token',
          requestBody: {
            required: true,
            description: `A Sealed from the gateway key to the server box key whose box holds a LicenseRequest; at most ${maxBodyBytes} bytes.`,
            content: { [LICENSE_CONTENT_TYPE]: { schema: { type: 'string', format: 'binary', maxLength: maxBodyBytes } } },
          },
          responses: {
            '200': {
              description: 'Granted: a Sealed from the server box key to the gateway whose box holds a SignedToken (AccessToken + Ed25519 signature).',
              content: { [LICENSE_CONTENT_TYPE]: { schema: { type: 'string', format: 'binary' } } },
            },
            '400': {
              description:
                'Refused: no_license_agreement (the key is bound to no agreement), no_available_licenses (every license is locked by other configurations), or invalid_request (not a Sealed message, the box does not open, the request does not decode or lacks fields, its time is too far from the server clock, or its nonce was used already).',
              content: json('LicenseError'),
            },
            '413': { description: `The body is larger than ${maxBodyBytes} bytes.`, content: json('PayloadTooLarge') },
            '415': { description: `Content-Type is not ${LICENSE_CONTENT_TYPE}.`, content: json('UnsupportedMediaType') },
            '429': { description: 'Too many requests from this gateway key or this address.', headers: retryAfter, content: json('RateLimited') },
            '503': {
              description: 'The lease ledger did not decide in time (or the service is starting). Retry the same request: it is decided once.',
              headers: retryAfter,
              content: json('Unavailable'),
            },
          },
        },
      },
      [LICENSE_RELEASE_PATH]: {
        post: {
          operationId: 'releaseLicense',
          summary: "Give back this gateway process's share of its lock (on a clean shutdown)",
          requestBody: {
            required: true,
            description: `A Sealed from the gateway key to the server box key whose box holds a ReleaseRequest; at most ${maxBodyBytes} bytes.`,
            content: { [LICENSE_CONTENT_TYPE]: { schema: { type: 'string', format: 'binary', maxLength: maxBodyBytes } } },
          },
          responses: {
            '200': {
              description: 'Released: a Sealed from the server box key to the gateway whose box holds a ReleaseAnswer (freed, or still counted until kept_until_utc by the agreement\'s linger).',
              content: { [LICENSE_CONTENT_TYPE]: { schema: { type: 'string', format: 'binary' } } },
            },
            '400': {
              description:
                'Refused, nothing changed: lock_not_held (this gateway process holds no live lock on that config hash: released already, expired, released by ops, or never acquired), no_license_agreement (the key is bound to no agreement), or invalid_request (as for POST /v1/license).',
              content: json('LicenseError'),
            },
            '413': { description: `The body is larger than ${maxBodyBytes} bytes.`, content: json('PayloadTooLarge') },
            '415': { description: `Content-Type is not ${LICENSE_CONTENT_TYPE}.`, content: json('UnsupportedMediaType') },
            '429': { description: 'Too many requests from this gateway key or this address.', headers: retryAfter, content: json('RateLimited') },
            '503': { description: 'The lease ledger did not decide in time (or the service is starting). Retry the same release: it is decided once.', headers: retryAfter, content: json('Unavailable') },
          },
        },
      },
      [LICENSE_KEYS_PATH]: {
        get: {
          operationId: 'serverKeys',
          summary: "The server's public keys (gateways pin them in their configuration; do not fetch them at run time)",
          responses: { '200': { description: 'Box (X25519) and signing (Ed25519) public keys with their key ids', content: json('ServerKeys') } },
        },
      },
      '/openapi.json': {
        get: { operationId: 'openApi', summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': {} } } } },
      },
    },
    components: {
      schemas: {
        LicenseError: errorSchema(400, [...licenseErrorReasons]),
        PayloadTooLarge: errorSchema(413, ['payload_too_large']),
        UnsupportedMediaType: errorSchema(415, ['unsupported_media_type']),
        RateLimited: errorSchema(429, ['rate_limited']),
        Unavailable: errorSchema(503, ['unavailable']),
        PublicKey: {
          type: 'object',
          required: ['key_id', 'public_key'],
          properties: {
            key_id: { type: 'string', pattern: '^[0-9a-f]{16}$', description: 'First 8 bytes of SHA-256 of the public key, hex' },
            public_key: { type: 'string', contentEncoding: 'base64', description: '32 bytes, standard base64' },
          },
        },
        ServerKeys: {
          type: 'object',
          required: ['box', 'sign'],
          properties: { box: { $ref: '#/components/schemas/PublicKey' }, sign: { $ref: '#/components/schemas/PublicKey' } },
        },
      },
    },
  };
}
