import { createHash, timingSafeEqual } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { LICENSE_CONTENT_TYPE } from '@license-ledger/protocol-exchange';

/*
 * The client's HTTP: plain http://, or https:// WITHOUT certificate validation, as the protocol says
 * (docs/protocol.md "Transport"): what the gateway trusts is the token's signature and the pinned
 * server keys, not a certificate authority, so a self-signed ingress certificate works. Optionally
 * the certificate is pinned by its SHA-256 fingerprint: the TLS connection is checked before HTTP
 * gets the socket, so with a wrong pin not one byte of the request is sent.
 */

/** One HTTP POST of a protocol body; injected so tests can break servers. */
export type HttpPost = (url: string, body: Uint8Array, timeoutMs: number) => Promise<{ status: number; body: Uint8Array }>;

/** Answers are a sealed token or a short JSON refusal: anything longer is not a license server's. */
export const MAX_ANSWER_BYTES = 64 * 1024;

/** The server's certificate is not the pinned one; nothing was sent to it. */
export class CertificatePinError extends Error {
  override readonly name = 'CertificatePinError';
}

/** "AB:CD:…" (as `openssl x509 -noout -fingerprint -sha256` prints it) or 64 hex digits; throws with the reason. */
export function parseCertificatePin(text: string): Uint8Array {
  const hex = text.trim().replace(/^sha256(?: fingerprint)?[=:]\s*/i, '').replace(/:/g, '');
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new Error(`"${text}" is not a SHA-256 certificate fingerprint (64 hex digits, colons allowed)`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Upper-case hex pairs with colons, as openssl and browsers show fingerprints. */
export function formatFingerprint(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

const samePin = (a: Uint8Array, b: Uint8Array): boolean => a.byteLength === b.byteLength && timingSafeEqual(a, b);

/** The HttpPost the client uses: `pins` (SHA-256 of the DER certificate) restrict https:// servers when not empty. */
export function httpPost(options: { readonly pins: readonly Uint8Array[] }): HttpPost {
  return (url, body, timeoutMs) => post(new URL(url), body, timeoutMs, options.pins);
}

function post(url: URL, body: Uint8Array, timeoutMs: number, pins: readonly Uint8Array[]): Promise<{ status: number; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    let request: ClientRequest | undefined;
    /** The TLS connection, before HTTP owns it. */
    const sockets: Socket[] = [];
    let settled = false;
    const finish = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outcome();
    };
    const fail = (error: Error): void =>
      finish(() => {
        request?.destroy();
        for (const socket of sockets) socket.destroy();
        reject(error);
      });
    const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);

    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    const send = (createConnection?: () => Socket): void => {
      // Options rather than the URL: over an already open TLS socket this is HTTP on it, whatever the scheme.
      request = httpRequest({
        host,
        port,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { host: url.host, 'content-type': LICENSE_CONTENT_TYPE, 'content-length': String(body.byteLength) },
        // One connection per exchange (a gateway asks a few times an hour): no agent. Node uses
        // createConnection only when no agent is given, not even `false`.
        ...(createConnection ? { createConnection } : { agent: false }),
      });
      request.on('error', fail);
      request.on('response', (response: IncomingMessage) => collect(response, (answer) => finish(() => resolve(answer)), fail));
      request.end(body);
    };

    if (url.protocol === 'http:') {
      send();
      return;
    }
    if (url.protocol !== 'https:') {
      fail(new Error(`unsupported URL scheme ${url.protocol} (http: or https:)`));
      return;
    }
    const tls = tlsConnect({
      host,
      port,
      // The certificate is not validated (see above); a pin, when set, is checked below.
      rejectUnauthorized: false,
      ...(isIP(host) === 0 ? { servername: host } : {}),
    });
    sockets.push(tls);
    tls.on('error', fail);
    tls.once('secureConnect', () => {
      if (pins.length > 0) {
        const raw = tls.getPeerCertificate().raw as Buffer | undefined;
        const fingerprint = raw ? new Uint8Array(createHash('sha256').update(raw).digest()) : undefined;
        if (!fingerprint || !pins.some((pin) => samePin(pin, fingerprint))) {
          const presented = fingerprint ? `a certificate with SHA-256 fingerprint ${formatFingerprint(fingerprint)}` : 'no certificate';
          fail(new CertificatePinError(`certificate pin mismatch: ${url.host} presented ${presented}, not the pinned ${pins.map(formatFingerprint).join(' or ')}; nothing was sent`));
          return;
        }
      }
      // `fail` stays on the socket: an error after HTTP is done with it is then ignored, never unhandled.
      send(() => tls);
    });
  });
}

function collect(response: IncomingMessage, done: (answer: { status: number; body: Uint8Array }) => void, fail: (error: Error) => void): void {
  const chunks: Buffer[] = [];
  let length = 0;
  response.on('data', (chunk: Buffer) => {
    length += chunk.byteLength;
    if (length > MAX_ANSWER_BYTES) {
      fail(new Error(`answer longer than ${MAX_ANSWER_BYTES} bytes`));
      return;
    }
    chunks.push(chunk);
  });
  response.on('end', () => done({ status: response.statusCode ?? 0, body: new Uint8Array(Buffer.concat(chunks, length)) }));
  response.on('error', fail);
}
