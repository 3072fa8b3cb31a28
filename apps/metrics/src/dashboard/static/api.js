// The signed analysts' API, as the dashboard calls it.
import { signGet } from './signing.js';

export class ApiError extends Error {
  constructor(status, body, path) {
    super(describe(status, body, path));
    this.status = status;
    this.body = body;
  }
}

function describe(status, body, path) {
  const why = {
    400: 'the API refused the request',
    401: 'Unauthorized: the API did not accept the signature. Check the key id and that the key file is the private half of the public key registered for it (and not revoked).',
    429: 'Too many failed attempts from this address or key: wait a minute, then try again with the right key.',
    503: 'The service is not ready (database or broker unreachable): try again shortly.',
  }[status] ?? 'the API answered with an error';
  return `${status} ${why}\n${path}\n${body}`;
}

/** GET `path` with `params` (empty ones left out), signed with `credentials` = { keyId, key }. */
export async function getSigned(credentials, path, params) {
  const query = Object.entries(params)
    .filter(([, value]) => value !== undefined && value !== null && value !== '')
    .map(([name, value]) => `${encodeURIComponent(name)}=${encodeURIComponent(value)}`)
    .join('&');
  // Signed as the browser will send it: the URL parser's own form of the path and query.
  const url = new URL(query ? `${path}?${query}` : path, location.origin);
  const target = url.pathname + url.search;
  const response = await fetch(target, {
    headers: { 'X-API-Key': credentials.keyId, 'X-API-Signature': await signGet(credentials.key, target) },
    cache: 'no-store',
  });
  const text = await response.text();
  if (!response.ok) throw new ApiError(response.status, text, target);
  return JSON.parse(text);
}
