import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { BoxSecretKey, SigningKey, fromHex, toHex } from '@license-ledger/protocol-crypto';
import { decodeReleaseAnswer, decodeReleaseRequest, encodeLicenseRequest, encodeSealed, exampleLicenseRequest, type ReleaseRequest } from '@license-ledger/protocol-wire';
import { InvalidRequestError, LicenseServerCrypto, ReleaseAnswerRejectedError, openReleaseAnswer, openReleaseRequest, sealLicenseRequest, sealReleaseAnswer, sealReleaseRequest } from './index';

const random = (length: number): Uint8Array => nacl.randomBytes(length);

describe('the release exchange', () => {
  const gateway = BoxSecretKey.generate(random);
  const serverBox = BoxSecretKey.generate(random);
  const server = new LicenseServerCrypto({ boxKey: serverBox, signingKey: SigningKey.generate(random), random });
  const request: ReleaseRequest = {
    tokenId: 'token-1',
    requestTimeUtc: 1_767_225_600_000_000_000n,
    nonce: random(16),
    configHash: random(32),
    hostname: 'gw-1',
    processId: 77n,
    sessionId: 'session-1',
  };
  const sealRequest = (): Uint8Array => sealReleaseRequest({ request, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, random });
  const expected = { nonce: request.nonce, configHash: request.configHash };
  const answer = { nonce: request.nonce, configHash: request.configHash, releasedTimeUtc: 1n, freed: true, keptUntilUtc: 0n };

  it('opens on the server as the gateway sealed it, and the answer opens on the gateway', () => {
    const opened = openReleaseRequest(server, sealRequest());
    expect(opened).toEqual({ gatewayPublicKey: gateway.publicKey, request });
    const body = sealReleaseAnswer(server, opened.gatewayPublicKey, answer);
    expect(openReleaseAnswer({ body, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, expected })).toEqual(answer);
  });

  it('refuses a sealed LicenseRequest, garbage and a box for another server as invalid requests', () => {
    const licenseBody = sealLicenseRequest({ request: exampleLicenseRequest(), gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, random });
    expect(() => openReleaseRequest(server, licenseBody)).toThrow(/^box does not hold a valid ReleaseRequest: not a valid ReleaseRequest/);
    expect(() => openReleaseRequest(server, new Uint8Array([1, 2, 3]))).toThrow(InvalidRequestError);
    const elsewhere = sealReleaseRequest({ request, gatewayKey: gateway, serverBoxPublicKey: BoxSecretKey.generate(random).publicKey, random });
    expect(() => openReleaseRequest(server, elsewhere)).toThrow(/box does not open with server key/);
    // A LicenseRequest's plaintext in a release box is refused as well.
    const box = nacl.box(encodeLicenseRequest(exampleLicenseRequest()), new Uint8Array(24), serverBox.publicKey, gateway.secretKey);
    expect(() => openReleaseRequest(server, encodeSealed({ publicKey: gateway.publicKey, nonce: new Uint8Array(24), box }))).toThrow(InvalidRequestError);
  });

  it('makes the gateway refuse an answer it must not trust', () => {
    const open = (body: Uint8Array, overrides: Partial<typeof expected> = {}) => () =>
      openReleaseAnswer({ body, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, expected: { ...expected, ...overrides } });
    const body = sealReleaseAnswer(server, gateway.publicKey, answer);
    expect(open(body, { nonce: random(16) })).toThrow("answer does not echo this release's nonce (replayed answer?)");
    expect(open(body, { configHash: random(32) })).toThrow('answer is about another configuration (config hash differs)');
    const impostor = new LicenseServerCrypto({ boxKey: BoxSecretKey.generate(random), signingKey: SigningKey.generate(random), random });
    expect(open(sealReleaseAnswer(impostor, gateway.publicKey, answer))).toThrow(/not by the configured server box key/);
    const tampered = body.slice();
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    expect(open(tampered)).toThrow(ReleaseAnswerRejectedError);
    // A token (a SignedToken in the box) is no answer to a release.
    const token = server.sealToken({
      tokenId: 't',
      agreementId: 'a',
      gatewayPublicKey: gateway.publicKey,
      configHash: request.configHash,
      packageName: 'p',
      issuedTimeUtc: 1n,
      expiryTimeUtc: 2n,
      nonce: request.nonce,
      renewTimeUtc: 2n,
    });
    expect(open(token)).toThrow(/^answer is not a valid sealed ReleaseAnswer/);
  });
});

describe('published release test vectors', () => {
  interface SealedVector {
    fields: Record<string, string | boolean>;
    bytes: string;
    sealed: Record<string, string>;
  }
  const v = JSON.parse(readFileSync(join(__dirname, '..', 'test-vectors', 'v1.json'), 'utf8')) as {
    keys: Record<string, Record<string, string>>;
    release: { request: SealedVector; answer: SealedVector };
  };
  const key = (name: string, field: string): Uint8Array => fromHex(v.keys[name]?.[field] ?? '');

  it('check out with tweetnacl and decode to the listed fields', () => {
    const { request, answer } = v.release;
    const opened = nacl.box.open(fromHex(request.sealed['box'] ?? ''), fromHex(request.sealed['nonce'] ?? ''), key('gateway_box', 'public_key'), key('server_box', 'secret_key'));
    expect(opened && toHex(opened)).toBe(request.bytes);
    const decoded = decodeReleaseRequest(fromHex(request.bytes));
    expect([decoded.tokenId, toHex(decoded.nonce), decoded.processId.toString(), decoded.sessionId]).toEqual([
      request.fields['token_id'],
      request.fields['nonce'],
      request.fields['process_id'],
      request.fields['session_id'],
    ]);
    const answerBytes = nacl.box.open(fromHex(answer.sealed['box'] ?? ''), fromHex(answer.sealed['nonce'] ?? ''), key('server_box', 'public_key'), key('gateway_box', 'secret_key'));
    expect(answerBytes && toHex(answerBytes)).toBe(answer.bytes);
    const released = decodeReleaseAnswer(fromHex(answer.bytes));
    expect([toHex(released.nonce), released.freed, released.keptUntilUtc.toString()]).toEqual([answer.fields['nonce'], answer.fields['freed'], answer.fields['kept_until_utc']]);
  });
});
