import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { BoxSecretKey, SigningKey, VerifyKey, configHash, fromHex, toHex } from '@license-ledger/protocol-crypto';
import { decodeAccessToken, decodeLicenseRequest, decodeSignedToken, encodeLicenseRequest, encodeSealed, encodeSignedToken, exampleLicenseRequest, licenseRequestFields, type AccessToken } from '@license-ledger/protocol-wire';
import {
  InvalidRequestError,
  LicenseServerCrypto,
  TOKEN_SIGNATURE_CONTEXT,
  TokenRejectedError,
  buildTestVectors,
  licenseErrorBody,
  openLicenseResponse,
  parseLicenseErrorBody,
  sealLicenseRequest,
  signToken,
} from './index';

const random = (length: number): Uint8Array => nacl.randomBytes(length);

interface Vectors {
  token_signature_context: string;
  keys: Record<string, Record<string, string>> & { shared_key: string };
  request: { fields: Record<string, unknown>; field_order: string[]; bytes: string; sealed: Record<string, string> };
  token: { bytes: string; signature: string; signed_message: string; signed_token: string; key_id: string; sealed: Record<string, string> };
}

describe('published test vectors', () => {
  const text = readFileSync(join(__dirname, '..', 'test-vectors', 'v1.json'), 'utf8');
  const v = JSON.parse(text) as Vectors;
  const key = (name: string, field: string): Uint8Array => fromHex(v.keys[name]?.[field] ?? '');

  it('are what the code produces today (regenerate with tsx tools/protocol/test-vectors.ts)', () => {
    expect(JSON.parse(JSON.stringify(buildTestVectors()))).toEqual(v);
  });

  it('name every LicenseRequest field in wire order', () => {
    expect(v.request.field_order).toEqual(licenseRequestFields.map(([name]) => name));
    expect(Object.keys(v.request.fields)).toEqual(v.request.field_order);
  });

  it('check out with pure-JavaScript NaCl (tweetnacl) as an independent implementation', () => {
    const gatewaySk = key('gateway_box', 'secret_key');
    const gatewayPk = key('gateway_box', 'public_key');
    const serverSk = key('server_box', 'secret_key');
    const serverPk = key('server_box', 'public_key');
    expect(toHex(nacl.box.before(serverPk, gatewaySk))).toBe(v.keys.shared_key);
    const request = nacl.box.open(fromHex(v.request.sealed['box'] ?? ''), fromHex(v.request.sealed['nonce'] ?? ''), gatewayPk, serverSk);
    expect(request && toHex(request)).toBe(v.request.bytes);
    expect(decodeLicenseRequest(fromHex(v.request.bytes)).packageName).toBe(v.request.fields['package_name']);

    const message = fromHex(v.token.signed_message);
    expect(toHex(message)).toBe(toHex(new TextEncoder().encode(v.token_signature_context)) + v.token.bytes);
    expect(toHex(nacl.sign.detached(message, key('server_sign', 'secret_key')))).toBe(v.token.signature);
    expect(nacl.sign.detached.verify(message, fromHex(v.token.signature), key('server_sign', 'public_key'))).toBe(true);
    const signedToken = nacl.box.open(fromHex(v.token.sealed['box'] ?? ''), fromHex(v.token.sealed['nonce'] ?? ''), serverPk, gatewaySk);
    expect(signedToken && toHex(signedToken)).toBe(v.token.signed_token);
    expect(decodeSignedToken(fromHex(v.token.signed_token)).keyId).toBe(v.token.key_id);
  });

  it('open with our gateway code, pinned keys and the request nonce', () => {
    const token = openLicenseResponse({
      body: fromHex(v.token.sealed['bytes'] ?? ''),
      gatewayKey: BoxSecretKey.fromBytes(key('gateway_box', 'secret_key')),
      serverBoxPublicKey: key('server_box', 'public_key'),
      serverVerifyKey: VerifyKey.fromBytes(key('server_sign', 'public_key')),
      expected: { configHash: configHash('fix-gateway', ['A1', 'A2']), packageName: 'fix-gateway', nonce: fromHex(String(v.request.fields['nonce'])) },
    });
    expect(token.agreementId).toBe('agreement-0042');
  });
});

describe('license exchange', () => {
  const gateway = BoxSecretKey.generate(random);
  const serverBox = BoxSecretKey.generate(random);
  const serverSign = SigningKey.generate(random);
  const server = new LicenseServerCrypto({ boxKey: serverBox, signingKey: serverSign, random });
  const request = exampleLicenseRequest({ nonce: random(16), configHash: configHash('fix-gateway', ['A1']) });
  const expected = { configHash: request.configHash, packageName: request.packageName, nonce: request.nonce };

  function tokenFor(gatewayPublicKey: Uint8Array, overrides: Partial<AccessToken> = {}): AccessToken {
    return {
      tokenId: 't-1',
      agreementId: 'a-1',
      gatewayPublicKey,
      configHash: request.configHash,
      packageName: request.packageName,
      issuedTimeUtc: 1_000n,
      expiryTimeUtc: 2_000n,
      nonce: request.nonce,
      renewTimeUtc: 1_500n,
      ...overrides,
    };
  }

  const open = (body: Uint8Array, overrides: Partial<Parameters<typeof openLicenseResponse>[0]> = {}): AccessToken =>
    openLicenseResponse({ body, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, serverVerifyKey: VerifyKey.fromBytes(serverSign.publicKey), expected, ...overrides });

  it('carries a request to the server and a token back', () => {
    const body = sealLicenseRequest({ request, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, random });
    const opened = server.openRequest(body);
    expect(opened.gatewayPublicKey).toEqual(gateway.publicKey);
    expect(opened.request).toEqual(request);
    const token = tokenFor(opened.gatewayPublicKey);
    expect(open(server.sealToken(token))).toEqual(token);
    expect(server.cacheStats).toEqual({ hits: 1, misses: 1, size: 1 });
  });

  it('publishes both public keys with their ids', () => {
    expect(server.keysDocument()).toEqual({
      box: { key_id: expect.stringMatching(/^[0-9a-f]{16}$/), public_key: Buffer.from(serverBox.publicKey).toString('base64') },
      sign: { key_id: serverSign.keyId, public_key: Buffer.from(serverSign.publicKey).toString('base64') },
    });
  });

  it.each([
    ['garbage', () => new TextEncoder().encode('POST me'), /body is not a Sealed message/],
    ['a box sealed to another server', () => sealLicenseRequest({ request, gatewayKey: gateway, serverBoxPublicKey: BoxSecretKey.generate(random).publicKey, random }), /box does not open with server key/],
    ['a low-order sender key', () => encodeSealed({ publicKey: new Uint8Array(32), nonce: random(24), box: random(40) }), /unusable gateway public key/],
    [
      'a box holding something else',
      () => encodeSealed({ publicKey: gateway.publicKey, nonce: new Uint8Array(24), box: nacl.secretbox(random(40), new Uint8Array(24), gateway.sharedKey(serverBox.publicKey)) }),
      /box does not hold a valid LicenseRequest/,
    ],
  ])('answers invalid_request to %s', (_name, body, message) => {
    expect(() => server.openRequest(body())).toThrow(InvalidRequestError);
    expect(() => server.openRequest(body())).toThrow(message);
  });

  it('answers invalid_request to a Sealed with bytes after it, however few', () => {
    const body = sealLicenseRequest({ request, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, random });
    expect(server.openRequest(body).request).toEqual(request);
    for (const tail of [[0], [0, 0, 0, 0], [0x42], [...body]]) {
      expect(() => server.openRequest(Uint8Array.from([...body, ...tail]))).toThrow(
        new InvalidRequestError(`body is not a Sealed message: not a valid Sealed: ${tail.length} byte${tail.length === 1 ? ' follows' : 's follow'} the end of the message`),
      );
    }
  });

  it('answers invalid_request to a request holding a string the service cannot store', () => {
    // Sealed by hand: the gateway-side encoder refuses to write such a request at all.
    const bytes = encodeLicenseRequest(exampleLicenseRequest({ sessionId: 'session-NUL' }));
    bytes[Buffer.from(bytes).indexOf('NUL')] = 0;
    const nonce = random(24);
    const body = encodeSealed({ publicKey: gateway.publicKey, nonce, box: nacl.secretbox(bytes, nonce, gateway.sharedKey(serverBox.publicKey)) });
    expect(() => server.openRequest(body)).toThrow(
      new InvalidRequestError('box does not hold a valid LicenseRequest: LicenseRequest.session_id contains U+0000 (NUL) at character 8, which the license service cannot store'),
    );
  });

  it('rejects a token signed by another key, even one claiming the right key id', () => {
    const forger = SigningKey.generate(random);
    const signed = signToken(tokenFor(gateway.publicKey), forger);
    expect(() => open(sealSignedWith(forger))).toThrow(/signed by key id .*not by the configured server signing key/);
    const claimed = { ...signed, keyId: serverSign.keyId };
    expect(() => open(sealRaw(claimed))).toThrow('token signature does not verify with the configured server signing key (forged or corrupted token)');
  });

  it('rejects tokens for another gateway, config, package or request', () => {
    const other = BoxSecretKey.generate(random);
    // Sealed to us, but naming another gateway's key.
    expect(() => open(sealRaw(signToken(tokenFor(other.publicKey), serverSign)))).toThrow('token was issued to another gateway key');
    expect(() => open(server.sealToken(tokenFor(gateway.publicKey, { configHash: configHash('fix-gateway', ['A1', 'A2']) })))).toThrow('token was issued for another configuration (config hash differs)');
    expect(() => open(server.sealToken(tokenFor(gateway.publicKey, { packageName: 'other' })))).toThrow('token was issued for package "other", not "fix-gateway"');
    expect(() => open(server.sealToken(tokenFor(gateway.publicKey, { nonce: random(16) })))).toThrow("token does not echo this request's nonce");
    expect(() => open(server.sealToken(tokenFor(gateway.publicKey)), { gatewayKey: other })).toThrow(TokenRejectedError);
  });

  it('rejects a response sealed by an unknown server box key, or altered', () => {
    const impostor = new LicenseServerCrypto({ boxKey: BoxSecretKey.generate(random), signingKey: serverSign, random });
    expect(() => open(impostor.sealToken(tokenFor(gateway.publicKey)))).toThrow(/not by the configured server box key/);
    const body = server.sealToken(tokenFor(gateway.publicKey));
    body[body.length - 20] = (body[body.length - 20] ?? 0) ^ 1;
    expect(() => open(body)).toThrow(TokenRejectedError);
  });

  it('signs the context followed by the token bytes', () => {
    const signed = signToken(tokenFor(gateway.publicKey), serverSign);
    const message = Buffer.concat([Buffer.from(TOKEN_SIGNATURE_CONTEXT, 'ascii'), signed.token]);
    expect(nacl.sign.detached.verify(message, signed.signature, serverSign.publicKey)).toBe(true);
    expect(decodeAccessToken(signed.token).tokenId).toBe('t-1');
  });

  function sealRaw(signed: ReturnType<typeof signToken>): Uint8Array {
    const nonce = random(24);
    return encodeSealed({ publicKey: serverBox.publicKey, nonce, box: nacl.secretbox(encodeSignedToken(signed), nonce, serverBox.sharedKey(gateway.publicKey)) });
  }

  function sealSignedWith(key: SigningKey): Uint8Array {
    return new LicenseServerCrypto({ boxKey: serverBox, signingKey: key, random }).sealToken(tokenFor(gateway.publicKey));
  }
});

describe('error bodies', () => {
  it('build and parse {"error":400,"reason","message"}', () => {
    const body = licenseErrorBody('no_available_licenses', 'all 5 licenses of agreement a-1 are in use');
    expect(JSON.parse(JSON.stringify(body))).toEqual({ error: 400, reason: 'no_available_licenses', message: 'all 5 licenses of agreement a-1 are in use' });
    expect(parseLicenseErrorBody(JSON.parse(JSON.stringify(body)))).toEqual(body);
    expect(parseLicenseErrorBody({ error: 400, reason: 'teapot', message: 'x' })).toBeNull();
    expect(parseLicenseErrorBody({ error: 500, reason: 'invalid_request', message: 'x' })).toBeNull();
    expect(parseLicenseErrorBody('nope')).toBeNull();
  });
});
