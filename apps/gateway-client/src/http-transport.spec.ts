import { X509Certificate } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './config';
import { CertificatePinError, formatFingerprint, httpPost, MAX_ANSWER_BYTES, parseCertificatePin } from './http-transport';

/**
 * A self-signed certificate made once for these tests (openssl req -x509 -newkey ec, CN=license-test-a,
 * valid for a century): the client must take it without validating it, and check it only against a pin.
 */
const TEST_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgNz/HbpjSrEXb8zrc
USyB5UU31yWLQ9c0QgjJ6KvDooqhRANCAAQR+XWH3wD1cOlVQHeKP/JBvANWi5xX
PmaXYcCV/pQ8gBFUrIASGq9wrZVXpaWdWSSrbKttsUQp4Rro+5k6By67
-----END PRIVATE KEY-----
`;
const TEST_CERT = `-----BEGIN CERTIFICATE-----
MIIBijCCAS+gAwIBAgIUKymnCdROo4YDNzALO+R1U8V3fYYwCgYIKoZIzj0EAwIw
GTEXMBUGA1UEAwwObGljZW5zZS10ZXN0LWEwIBcNMjYxMjAxMTk0ODMyWhgPMjEy
NjExMDcxOTQ4MzJaMBkxFzAVBgNVBAMMDmxpY2Vuc2UtdGVzdC1hMFkwEwYHKoZI
zj0CAQYIKoZIzj0DAQcDQgAEEfl1h98A9XDpVUB3ij/yQbwDVoucVz5ml2HAlf6U
PIARVKyAEhqvcK2VV6WlnVkkq2yrbbFEKeEa6PuZOgcuu6NTMFEwHQYDVR0OBBYE
FNhZbltYUVzcz+g8zFyiQg0ypbV8MB8GA1UdIwQYMBaAFNhZbltYUVzcz+g8zFyi
Qg0ypbV8MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSQAwRgIhAPjrWjq6
ZQP3Rb3i0zhZzqsNRKjHxr/X7cAMnjiO/ViEAiEAwh6oGuVOL2+TIxiNMeEJumN5
WVx9prj5+Ie6DM1uXDw=
-----END CERTIFICATE-----
`;

/** What the servers saw: every request, with its body. */
const seen: Array<{ url: string | undefined; body: string; contentType: string | undefined }> = [];
let connections = 0;

function handler(request: IncomingMessage, response: ServerResponse): void {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    seen.push({ url: request.url, body: Buffer.concat(chunks).toString('utf8'), contentType: request.headers['content-type'] });
    if (request.url === '/huge') response.end(Buffer.alloc(MAX_ANSWER_BYTES + 1));
    else if (request.url === '/slow') setTimeout(() => response.end('late'), 2_000).unref();
    else response.writeHead(201).end(`got ${Buffer.concat(chunks).toString('utf8')}`);
  });
}

describe('the client HTTP transport', () => {
  let https: HttpsServer;
  let http: HttpServer;
  let httpsUrl = '';
  let httpUrl = '';
  const fingerprint = parseCertificatePin(new X509Certificate(TEST_CERT).fingerprint256);
  const text = (body: Uint8Array): string => Buffer.from(body).toString('utf8');

  beforeAll(async () => {
    https = createHttpsServer({ key: TEST_KEY, cert: TEST_CERT }, handler);
    https.on('connection', () => (connections += 1));
    http = createHttpServer(handler);
    await Promise.all([new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve)), new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))]);
    httpsUrl = `https://127.0.0.1:${(https.address() as AddressInfo).port}`;
    httpUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    https.closeAllConnections();
    http.closeAllConnections();
    https.close();
    http.close();
  });
  beforeEach(() => {
    seen.length = 0;
    connections = 0;
  });

  it('posts over HTTPS to a self-signed certificate without validating it, and over plain HTTP', async () => {
    const post = httpPost({ pins: [] });
    const answer = await post(`${httpsUrl}/v1/license?x=1`, new TextEncoder().encode('sealed'), 5_000);
    expect([answer.status, text(answer.body)]).toEqual([201, 'got sealed']);
    const plain = await post(`${httpUrl}/v1/license/release`, new TextEncoder().encode('plain'), 5_000);
    expect([plain.status, text(plain.body)]).toEqual([201, 'got plain']);
    expect(seen).toEqual([
      { url: '/v1/license?x=1', body: 'sealed', contentType: 'application/octet-stream' },
      { url: '/v1/license/release', body: 'plain', contentType: 'application/octet-stream' },
    ]);
  });

  it("posts when the certificate's SHA-256 is one of the pins", async () => {
    const other = new Uint8Array(32).fill(1);
    const answer = await httpPost({ pins: [other, fingerprint] })(`${httpsUrl}/v1/license`, new TextEncoder().encode('pinned'), 5_000);
    expect([answer.status, text(answer.body)]).toEqual([201, 'got pinned']);
  });

  it('refuses a certificate that is not pinned after the handshake, before sending a byte of the request', async () => {
    const wrong = new Uint8Array(32).fill(0xab);
    const attempt = httpPost({ pins: [wrong] })(`${httpsUrl}/v1/license`, new TextEncoder().encode('secret'), 5_000);
    await expect(attempt).rejects.toThrow(CertificatePinError);
    await expect(attempt).rejects.toThrow(
      `certificate pin mismatch: ${new URL(httpsUrl).host} presented a certificate with SHA-256 fingerprint ${formatFingerprint(fingerprint)}, not the pinned ${formatFingerprint(wrong)}; nothing was sent`,
    );
    // The client connected (so the refusal is the pin's, after the handshake), and no request reached the server.
    expect([connections, seen]).toEqual([1, []]);
  });

  it('gives up on a server that is slow or answers too much, and names why', async () => {
    const post = httpPost({ pins: [] });
    await expect(post(`${httpsUrl}/slow`, new Uint8Array(1), 200)).rejects.toThrow('no answer within 200 ms');
    await expect(post(`${httpUrl}/huge`, new Uint8Array(1), 5_000)).rejects.toThrow(`answer longer than ${MAX_ANSWER_BYTES} bytes`);
  });

  it('reads pins as openssl and browsers print them, and refuses anything else', () => {
    const hex = Buffer.from(fingerprint).toString('hex');
    expect(parseCertificatePin(formatFingerprint(fingerprint))).toEqual(fingerprint);
    expect(parseCertificatePin(hex)).toEqual(fingerprint);
    expect(parseCertificatePin(`sha256 Fingerprint=${formatFingerprint(fingerprint)}`)).toEqual(fingerprint);
    expect(() => parseCertificatePin(hex.slice(2))).toThrow('is not a SHA-256 certificate fingerprint (64 hex digits, colons allowed)');
    expect(() => parseCertificatePin(`${hex.slice(2)}zz`)).toThrow('is not a SHA-256 certificate fingerprint');
  });
});

describe('certificate pins in the client config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'gateway-pins-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const key = Buffer.alloc(32, 1).toString('base64');
  const pin = 'AB:'.repeat(31) + 'AB';
  const configWith = (servers: string, pins: string): string => {
    const path = join(dir, 'gateway.toml');
    writeFileSync(path, `[license]\npackage_name = "p"\nservers = [${servers}]\nserver_box_public_key = "${key}"\nserver_sign_public_key = "${key}"\nstate_dir = "state"\n${pins}\n`);
    return path;
  };

  it('reads one pin or a list, and --pin-sha256 replaces them', () => {
    expect(loadConfig(configWith('"https://a:8443"', '')).serverCertSha256).toEqual([]);
    expect(loadConfig(configWith('"https://a:8443"', `server_cert_sha256 = "${pin}"`)).serverCertSha256).toEqual([new Uint8Array(32).fill(0xab)]);
    const listed = loadConfig(configWith('"https://a:8443"', `server_cert_sha256 = ["${pin}", "${'cd'.repeat(32)}"]`));
    expect(listed.serverCertSha256.map(formatFingerprint)).toEqual([pin, 'CD:'.repeat(31) + 'CD']);
    expect(loadConfig(configWith('"https://a:8443"', `server_cert_sha256 = "${pin}"`), { pins: ['01'.repeat(32)] }).serverCertSha256).toEqual([new Uint8Array(32).fill(1)]);
  });

  it('refuses a malformed pin, and a pin with a plain http:// server', () => {
    expect(() => loadConfig(configWith('"https://a:8443"', 'server_cert_sha256 = "AB:CD"'))).toThrow(/\[license\]\.server_cert_sha256: "AB:CD" is not a SHA-256 certificate fingerprint/);
    expect(() => loadConfig(configWith('"https://a:8443"', ''), { pins: ['nope'] })).toThrow('--pin-sha256: "nope" is not a SHA-256 certificate fingerprint');
    expect(() => loadConfig(configWith('"https://a:8443", "http://b:3000"', `server_cert_sha256 = "${pin}"`))).toThrow(ConfigError);
    expect(() => loadConfig(configWith('"http://b:3000"', ''), { pins: [pin] })).toThrow('a pinned certificate needs https:// servers, but "http://b:3000" is plain http');
  });
});
