import type { LeaseOutcome, ReleaseLock } from '@license-ledger/lease-domain';
import { LedgerTimeoutError } from '@license-ledger/lease-ledger';
import { BoxSecretKey, SigningKey, systemRandom, toBase64, toHex } from '@license-ledger/protocol-crypto';
import { LicenseServerCrypto, openReleaseAnswer, parseLicenseErrorBody, sealLicenseRequest, sealReleaseRequest } from '@license-ledger/protocol-exchange';
import { exampleLicenseRequest, type ReleaseRequest } from '@license-ledger/protocol-wire';
import { requestIdOf } from './license-handler';
import { ReleaseHandler, releaseRequestIdOf, type ReleaseLedgerPort } from './release-handler';

const NOW = 1_800_000_000_000;
const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
const silent = { warn: jest.fn(), info: jest.fn(), debug: jest.fn(), error: jest.fn() };

/** The ledger's side as the handler sees it: bindings, and an answer per command. */
class FakeLedger implements ReleaseLedgerPort {
  ready = true;
  readonly bindings = new Map<string, string>();
  readonly sent: ReleaseLock[] = [];
  answer: () => Promise<LeaseOutcome> = async () => ({ kind: 'released', configHash: '', freed: true });
  agreementOf(key: string): string | undefined {
    return this.bindings.get(key);
  }
  send(command: ReleaseLock): Promise<LeaseOutcome> {
    this.sent.push(command);
    return this.answer();
  }
}

function setup() {
  const serverBox = BoxSecretKey.generate(systemRandom);
  const gateway = BoxSecretKey.generate(systemRandom);
  const ledger = new FakeLedger();
  ledger.bindings.set(toBase64(gateway.publicKey), 'agreement-1');
  const answers: Array<[number, string]> = [];
  const handler = new ReleaseHandler({
    crypto: new LicenseServerCrypto({ boxKey: serverBox, signingKey: SigningKey.generate(systemRandom) }),
    ledger,
    logger: silent,
    ledgerTimeoutMs: 100,
    retryAfterSeconds: 2,
    maxBodyBytes: 2_048,
    requestTimeWindowMs: 300_000,
    keyRate: { perSecond: 1, burst: 100 },
    onAnswer: (status, reason) => answers.push([status, reason]),
  });
  const release = (fields: Partial<ReleaseRequest> = {}): ReleaseRequest => ({
    tokenId: 'token-1',
    requestTimeUtc: ns(NOW),
    nonce: systemRandom(16),
    configHash: systemRandom(32),
    hostname: 'gw-1',
    processId: 4242n,
    sessionId: 'session-1',
    ...fields,
  });
  const seal = (request: ReleaseRequest, key = gateway): Uint8Array => sealReleaseRequest({ request, gatewayKey: key, serverBoxPublicKey: serverBox.publicKey, random: systemRandom });
  const open = (body: Buffer, request: ReleaseRequest) =>
    openReleaseAnswer({ body: new Uint8Array(body), gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, expected: { nonce: request.nonce, configHash: request.configHash } });
  return { handler, ledger, gateway, serverBox, answers, release, seal, open };
}

const refusalOf = (body: Buffer) => parseLicenseErrorBody(JSON.parse(body.toString('utf8')));

describe('ReleaseHandler', () => {
  it("sends ReleaseLock for the process the release names and answers with what became of the lock, sealed to the gateway", async () => {
    const { handler, ledger, gateway, answers, release, seal, open } = setup();
    const request = release();
    ledger.answer = async () => ({ kind: 'released', configHash: toHex(request.configHash), freed: false, keptUntil: NOW + 60_000 });
    const answer = await handler.handleAdmitted(seal(request), '10.0.0.1', NOW);
    expect(answer.status).toBe(200);
    expect(ledger.sent).toEqual([
      {
        type: 'ReleaseLock',
        data: { agreementId: 'agreement-1', configHash: toHex(request.configHash), holder: { key: toBase64(gateway.publicKey), hostname: 'gw-1', processId: 4242, sessionId: 'session-1' } },
        metadata: { requestId: releaseRequestIdOf(gateway.publicKey, request.nonce), requestedAt: NOW },
      },
    ]);
    expect(open(answer.body, request)).toMatchObject({ freed: false, keptUntilUtc: ns(NOW + 60_000) });
    // A license request with the same key and nonce would be another request for the ledger.
    expect(releaseRequestIdOf(gateway.publicKey, request.nonce)).not.toBe(requestIdOf(gateway.publicKey, request.nonce));

    const freed = release();
    ledger.answer = async () => ({ kind: 'released', configHash: toHex(freed.configHash), freed: true });
    expect(open((await handler.handleAdmitted(seal(freed), '10.0.0.1', NOW)).body, freed)).toMatchObject({ freed: true, keptUntilUtc: 0n });
    expect(answers).toEqual([
      [200, 'lingering'],
      [200, 'freed'],
    ]);
  });

  it("answers the ledger's lock_not_held as a 400 with its message", async () => {
    const { handler, ledger, release, seal } = setup();
    ledger.answer = async () => ({ kind: 'denied', reason: 'lock_not_held', message: 'this gateway process does not hold lock X' });
    const answer = await handler.handleAdmitted(seal(release()), '10.0.0.1', NOW);
    expect([answer.status, refusalOf(answer.body)]).toEqual([400, { error: 400, reason: 'lock_not_held', message: 'this gateway process does not hold lock X' }]);
  });

  it('refuses an unbound key, a license request, a replay, missing holder names and a stale time without asking the ledger', async () => {
    const { handler, ledger, serverBox, release, seal } = setup();
    const reasons = async (body: Uint8Array): Promise<[number, string | undefined]> => {
      const answer = await handler.handleAdmitted(body, '10.0.0.1', NOW);
      return [answer.status, answer.status === 200 ? undefined : refusalOf(answer.body)?.reason];
    };
    expect(await reasons(seal(release(), BoxSecretKey.generate(systemRandom)))).toEqual([400, 'no_license_agreement']);
    const licenseBody = sealLicenseRequest({ request: exampleLicenseRequest(), gatewayKey: BoxSecretKey.generate(systemRandom), serverBoxPublicKey: serverBox.publicKey, random: systemRandom });
    expect(await reasons(licenseBody)).toEqual([400, 'invalid_request']);
    expect(await reasons(seal(release({ hostname: '', sessionId: '' })))).toEqual([400, 'invalid_request']);
    expect(await reasons(seal(release({ requestTimeUtc: ns(NOW - 600_000) })))).toEqual([400, 'invalid_request']);
    expect(ledger.sent).toEqual([]);
    const once = seal(release());
    expect(await reasons(once)).toEqual([200, undefined]);
    expect(await reasons(once)).toEqual([400, 'invalid_request']);
    expect(ledger.sent).toHaveLength(1);
  });

  it('answers 503 while the ledger is not ready or does not decide, and lets the gateway retry the same release', async () => {
    const { handler, ledger, release, seal } = setup();
    const body = seal(release());
    ledger.ready = false;
    const starting = await handler.handleAdmitted(body, '10.0.0.1', NOW);
    expect([starting.status, starting.headers]).toEqual([503, { 'retry-after': '2' }]);
    ledger.ready = true;
    ledger.answer = () => Promise.reject(new LedgerTimeoutError('r-1', 100));
    expect((await handler.handleAdmitted(body, '10.0.0.1', NOW)).status).toBe(503);
    ledger.answer = async () => ({ kind: 'released', configHash: '', freed: true });
    expect((await handler.handleAdmitted(body, '10.0.0.1', NOW)).status).toBe(200);
    // Both sends carried the same request id: the ledger decides the release once.
    expect(new Set(ledger.sent.map((command) => command.metadata.requestId)).size).toBe(1);
  });
});
