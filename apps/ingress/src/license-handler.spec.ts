import { parseLeaseCommand, serializeLeaseCommand, type AcquireLock, type LeaseOutcome } from '@license-ledger/lease-domain';
import { LedgerTimeoutError } from '@license-ledger/lease-ledger';
import { parseTelemetry } from '@license-ledger/metrics-usage';
import { BoxSecretKey, SigningKey, VerifyKey, keyId, sealWithSharedKey, systemRandom, toBase64, toHex } from '@license-ledger/protocol-crypto';
import { LicenseServerCrypto, openLicenseResponse, parseLicenseErrorBody, sealLicenseRequest } from '@license-ledger/protocol-exchange';
import { encodeLicenseRequest, encodeSealed, exampleLicenseRequest, licenseRequestFields, unstorableText, type LicenseRequest } from '@license-ledger/protocol-wire';
import { isLicenseContentType, LicenseHandler, requestIdOf, type HandlerLogger, type LedgerPort, type TelemetrySink } from './license-handler';
import { telemetryRecord, TelemetryPublisher, type TelemetryEnvelope } from './telemetry';

const NOW = 1_800_000_000_000;
const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
const silent = { warn: jest.fn(), info: jest.fn(), debug: jest.fn(), error: jest.fn() };

class FakeLedger implements LedgerPort {
  ready = true;
  readonly bindings = new Map<string, string>();
  readonly sent: AcquireLock[] = [];
  answer: (command: AcquireLock) => Promise<LeaseOutcome> = async () => ({ kind: 'granted', configHash: '', expiresAt: NOW + 10_000, renewed: false });
  agreementOf(key: string): string | undefined {
    return this.bindings.get(key);
  }
  send(command: AcquireLock): Promise<LeaseOutcome> {
    this.sent.push(command);
    return this.answer(command);
  }
}

function setup(overrides: { keyBurst?: number; addressBurst?: number; logger?: HandlerLogger; telemetry?: TelemetrySink } = {}) {
  const serverBox = BoxSecretKey.generate(systemRandom);
  const signing = SigningKey.generate(systemRandom);
  const gateway = BoxSecretKey.generate(systemRandom);
  const ledger = new FakeLedger();
  ledger.bindings.set(toBase64(gateway.publicKey), 'agreement-1');
  const published: Array<{ key: string | null; record: TelemetryEnvelope }> = [];
  const handler = new LicenseHandler({
    crypto: new LicenseServerCrypto({ boxKey: serverBox, signingKey: signing }),
    ledger,
    telemetry: overrides.telemetry ?? { enqueue: (key, record) => published.push({ key, record }) },
    logger: overrides.logger ?? silent,
    instanceId: 'test',
    ledgerTimeoutMs: 100,
    retryAfterSeconds: 2,
    maxBodyBytes: 2_048,
    requestTimeWindowMs: 300_000,
    keyRate: { perSecond: 1, burst: overrides.keyBurst ?? 100 },
    addressRate: { perSecond: 1, burst: overrides.addressBurst ?? 100 },
  });
  const request = (fields: Partial<LicenseRequest> = {}): LicenseRequest => exampleLicenseRequest({ requestTimeUtc: ns(NOW), tokenExpiryTimeUtc: ns(NOW + 60_000), nonce: systemRandom(16), ...fields });
  const seal = (req: LicenseRequest, key = gateway): Uint8Array => sealLicenseRequest({ request: req, gatewayKey: key, serverBoxPublicKey: serverBox.publicKey, random: systemRandom });
  /** Any payload, sealed as a gateway would seal a request (the encoder refuses what a hostile gateway may send). */
  const sealBytes = (payload: Uint8Array, key = gateway): Uint8Array => {
    const nonce = systemRandom(24);
    return encodeSealed({ publicKey: key.publicKey, nonce, box: sealWithSharedKey(payload, nonce, key.sharedKey(serverBox.publicKey)) });
  };
  const open = (body: Uint8Array, req: LicenseRequest) =>
    openLicenseResponse({ body, gatewayKey: gateway, serverBoxPublicKey: serverBox.publicKey, serverVerifyKey: VerifyKey.fromBytes(signing.publicKey), expected: { configHash: req.configHash, packageName: req.packageName, nonce: req.nonce } });
  return { handler, ledger, gateway, published, request, seal, sealBytes, open };
}

const json = (body: Buffer): unknown => JSON.parse(body.toString('utf8'));

/** The request's encoding with a zero byte in the middle of one string field. */
function withNul(request: LicenseRequest, field: 'sessionId' | 'hostname' | 'packageVersion' | 'kernelVersion'): Uint8Array {
  const bytes = encodeLicenseRequest({ ...request, [field]: 'xNULx' });
  bytes[Buffer.from(bytes).indexOf('NUL')] = 0;
  return bytes;
}

describe('LicenseHandler', () => {
  it('asks the ledger for the lock and answers with a token that expires with it and renews half way', async () => {
    const { handler, ledger, gateway, published, request, seal, open } = setup();
    const req = request();
    const answer = await handler.handle(seal(req), '10.0.0.1', NOW);
    expect(answer.status).toBe(200);
    expect(ledger.sent).toEqual([
      {
        type: 'AcquireLock',
        data: { agreementId: 'agreement-1', configHash: toHex(req.configHash), holder: { key: toBase64(gateway.publicKey), hostname: req.hostname, processId: Number(req.processId), sessionId: req.sessionId }, requestedPeriodMs: 60_000 },
        metadata: { requestId: requestIdOf(gateway.publicKey, req.nonce), requestedAt: Number(req.requestTimeUtc / 1_000_000n) },
      },
    ]);
    const token = open(answer.body, req);
    expect(token.agreementId).toBe('agreement-1');
    expect(token.expiryTimeUtc).toBe(ns(NOW + 10_000));
    expect(token.renewTimeUtc).toBe(token.issuedTimeUtc + (token.expiryTimeUtc - token.issuedTimeUtc) / 2n);
    await new Promise((resolve) => setImmediate(resolve));
    expect(published).toHaveLength(1);
    expect(published[0]?.key).toBe(req.sessionId);
    expect(published[0]?.record).toMatchObject({ agreement_id: 'agreement-1', key_fingerprint: keyId(gateway.publicKey), decision: 'granted', received_time_utc: ns(NOW).toString() });
  });

  it("answers a denial with the ledger's reason", async () => {
    const { handler, ledger, request, seal } = setup();
    ledger.answer = async () => ({ kind: 'denied', reason: 'no_available_licenses', message: 'all 2 licenses are held' });
    const answer = await handler.handle(seal(request()), 'a', NOW);
    expect({ status: answer.status, body: answer.body.toString() }).toEqual({ status: 400, body: '{"error":400,"reason":"no_available_licenses","message":"all 2 licenses are held"}' });
  });

  it('refuses an unknown key without asking the ledger, and publishes none of its telemetry', async () => {
    const { handler, ledger, published, request, seal } = setup();
    const stranger = BoxSecretKey.generate(systemRandom);
    const answer = await handler.handle(seal(request(), stranger), 'a', NOW);
    expect(json(answer.body)).toEqual({ error: 400, reason: 'no_license_agreement', message: `gateway key ${keyId(stranger.publicKey)} is not bound to a license agreement` });
    expect(ledger.sent).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(published).toEqual([]);
  });

  it("publishes telemetry of a denial only when the ledger knows the key and took the request as valid", async () => {
    const { handler, ledger, published, request, seal } = setup();
    const denials: Array<[LeaseOutcome, boolean]> = [
      [{ kind: 'denied', reason: 'no_available_licenses', message: 'all 2 licenses are held' }, true],
      // The key was unbound after the directory was read: the ledger's word counts.
      [{ kind: 'denied', reason: 'no_license_agreement', message: 'not bound' }, false],
      [{ kind: 'denied', reason: 'invalid_command', message: 'bad' }, false],
    ];
    for (const [outcome, publishes] of denials) {
      published.length = 0;
      ledger.answer = async () => outcome;
      expect((await handler.handle(seal(request()), 'a', NOW)).status).toBe(400);
      expect([outcome, published.map((p) => p.record.decision)]).toEqual([outcome, publishes ? ['no_available_licenses'] : []]);
    }
  });

  it('answers 503 with Retry-After when the ledger does not answer, and lets the same request be retried', async () => {
    const { handler, ledger, request, seal } = setup();
    ledger.answer = async (command) => {
      throw new LedgerTimeoutError(command.metadata.requestId, 100);
    };
    const body = seal(request());
    const first = await handler.handle(body, 'a', NOW);
    expect(first).toMatchObject({ status: 503, headers: { 'retry-after': '2' } });
    expect(json(first.body)).toEqual({ error: 503, reason: 'unavailable', message: 'the lease ledger cannot answer now (no decision within 100 ms); retry later' });
    ledger.answer = async () => ({ kind: 'granted', configHash: '', expiresAt: NOW + 10_000, renewed: false });
    expect((await handler.handle(body, 'a', NOW + 1)).status).toBe(200);
    expect(ledger.sent[0]?.metadata.requestId).toBe(ledger.sent[1]?.metadata.requestId);
    // Once decided, the nonce is spent.
    expect(json((await handler.handle(body, 'a', NOW + 2)).body)).toMatchObject({ reason: 'invalid_request' });
  });

  it('answers 503 while the key directory is loading', async () => {
    const { handler, ledger, request, seal } = setup();
    ledger.ready = false;
    expect((await handler.handle(seal(request()), 'a', NOW)).status).toBe(503);
  });

  it.each([
    ['a body that is not a Sealed', () => Buffer.from('nope'), /^body is not a Sealed message/],
    ['a stale request', (s: ReturnType<typeof setup>) => s.seal(s.request({ requestTimeUtc: ns(NOW - 301_000) })), /^request_time_utc is 301 s behind/],
    ['a request without a session id', (s: ReturnType<typeof setup>) => s.seal(s.request({ sessionId: '' })), /^the request lacks required field session_id$/],
    ['a Sealed with bytes after it', (s: ReturnType<typeof setup>) => Uint8Array.from([...s.seal(s.request()), 0, 0, 0, 0]), /^body is not a Sealed message: not a valid Sealed: 4 bytes follow the end of the message$/],
    ['a session id holding U+0000', (s: ReturnType<typeof setup>) => s.sealBytes(withNul(s.request(), 'sessionId')), /^box does not hold a valid LicenseRequest: LicenseRequest.session_id contains U\+0000 \(NUL\)/],
    ['a hostname holding U+0000', (s: ReturnType<typeof setup>) => s.sealBytes(withNul(s.request(), 'hostname')), /^box does not hold a valid LicenseRequest: LicenseRequest.hostname contains U\+0000 \(NUL\)/],
    ['a package version holding U+0000', (s: ReturnType<typeof setup>) => s.sealBytes(withNul(s.request(), 'packageVersion')), /LicenseRequest.package_version contains U\+0000/],
    ['a kernel version holding U+0000', (s: ReturnType<typeof setup>) => s.sealBytes(withNul(s.request(), 'kernelVersion')), /LicenseRequest.kernel_version contains U\+0000/],
  ])('refuses %s with 400 invalid_request, and publishes no telemetry', async (_what, body, message) => {
    const s = setup();
    const answer = await s.handler.handle(body(s), 'a', NOW);
    expect(answer.status).toBe(400);
    expect(json(answer.body)).toMatchObject({ error: 400, reason: 'invalid_request', message: expect.stringMatching(message) });
    expect(s.ledger.sent).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(s.published).toEqual([]);
  });

  it('answers 429 with Retry-After when a key or an address floods', async () => {
    const byKey = setup({ keyBurst: 2 });
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await byKey.handler.handle(byKey.seal(byKey.request()), 'a', NOW));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 429]);
    expect(answers[2]?.headers).toEqual({ 'retry-after': '1' });
    const byAddress = setup({ addressBurst: 1 });
    expect((await byAddress.handler.handle(byAddress.seal(byAddress.request()), 'b', NOW)).status).toBe(200);
    const limited = await byAddress.handler.handle(Buffer.from('x'), 'b', NOW);
    expect({ status: limited.status, body: limited.body.toString() }).toEqual({ status: 429, body: '{"error":429,"reason":"rate_limited","message":"too many requests from b"}' });
    expect((await byAddress.handler.handle(Buffer.from('x'), 'c', NOW)).status).toBe(400);
  });

  it('refuses a wrong content type and a declared length over the limit before reading the body', () => {
    const { handler } = setup();
    expect(handler.precheck('application/octet-stream', 10, 'a')).toBeNull();
    expect(handler.precheck('text/plain', 10, 'a')?.status).toBe(415);
    expect(handler.precheck(undefined, 10, 'a')?.status).toBe(415);
    expect(handler.precheck('application/octet-stream', 2_049, 'a')?.body.toString()).toBe('{"error":413,"reason":"payload_too_large","message":"the body exceeds 2048 bytes"}');
  });
});

describe('LicenseHandler on hostile bodies', () => {
  // Deterministic, so a failure is reproducible: xorshift32.
  let seed = 0x9e3779b9;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return seed >>> 0;
  };
  const randomBytes = (length: number): Uint8Array => Uint8Array.from({ length }, () => next() & 0xff);
  const mutate = (bytes: Uint8Array): Uint8Array => {
    const out = bytes.slice();
    const interesting = [0x00, 0xff, 0x80, 0xed, 0x7f];
    for (let flips = 1 + (next() % 4); flips > 0; flips--) out[next() % out.length] = next() % 2 === 0 ? (interesting[next() % interesting.length] ?? 0) : next() & 0xff;
    return out;
  };

  it('answers every body with 200, 400 or 413, never 5xx, and lets nothing unstorable through', async () => {
    const errors: object[] = [];
    const logger = { ...silent, error: (fields: object) => void errors.push(fields) };
    const records: Buffer[] = [];
    const unstorable: string[] = [];
    const telemetry = new TelemetryPublisher({ bus: { publish: async (_topic, messages) => void records.push(...messages.map((m) => m.value)) }, topic: 't', onUnstorable: (reason) => unstorable.push(reason) });
    const s = setup({ keyBurst: 1_000_000, addressBurst: 1_000_000, logger, telemetry });
    const commandProblems: string[] = [];
    s.ledger.answer = async (command) => {
      // What the ledger itself would refuse as malformed, or could not store.
      try {
        parseLeaseCommand(JSON.parse(serializeLeaseCommand(command)));
      } catch (error) {
        commandProblems.push(String(error));
      }
      for (const text of [command.data.agreementId, command.data.holder.hostname, command.data.holder.sessionId]) {
        const problem = unstorableText(text);
        if (problem !== null) commandProblems.push(`${JSON.stringify(text)} ${problem}`);
      }
      return next() % 3 === 0 ? { kind: 'denied', reason: 'no_available_licenses', message: 'all held' } : { kind: 'granted', configHash: '', expiresAt: NOW + 10_000, renewed: false };
    };
    const valid = (): Uint8Array => encodeLicenseRequest(s.request());
    const bodies: Array<[string, () => Uint8Array]> = [
      ['random bytes', () => randomBytes(next() % 3_000)],
      ['a mutated envelope', () => mutate(s.seal(s.request()))],
      ['a truncated or extended envelope', () => {
        const body = s.seal(s.request());
        return next() % 2 === 0 ? body.subarray(0, next() % body.length) : Uint8Array.from([...body, ...randomBytes(1 + (next() % 8))]);
      }],
      ['random bytes in a box that opens', () => s.sealBytes(randomBytes(next() % 1_500))],
      ['a mutated request in a box that opens', () => s.sealBytes(mutate(valid()))],
    ];
    const statuses = new Map<string, number>();
    const unexpected: string[] = [];
    for (let round = 0; round < 2_500; round++) {
      const [kind, make] = bodies[round % bodies.length] as [string, () => Uint8Array];
      const answer = await s.handler.handle(make(), '10.0.0.1', NOW);
      statuses.set(`${kind} ${answer.status}`, (statuses.get(`${kind} ${answer.status}`) ?? 0) + 1);
      if (![200, 400, 413].includes(answer.status)) unexpected.push(`round ${round}, ${kind}: ${answer.status} ${answer.body.toString()}`);
      if (answer.status === 400 && parseLicenseErrorBody(json(answer.body)) === null) unexpected.push(`round ${round}, ${kind}: 400 body ${answer.body.toString()}`);
    }
    await telemetry.flush();
    expect(unexpected).toEqual([]);
    expect(errors).toEqual([]);
    expect(commandProblems).toEqual([]);
    // Every record published is one the metrics sink stores; what it would not is dropped before.
    expect(records.map((r) => parseTelemetry(r)).filter((p) => !p.ok)).toEqual([]);
    for (const reason of unstorable) expect(reason).toMatch(/exceeds 2\^63-1|cpuid or cpu_affinity/);
    // The deep paths were reached: mutated requests were granted and refused alike.
    expect(statuses.get('a mutated request in a box that opens 200')).toBeGreaterThan(50);
    expect(statuses.get('a mutated request in a box that opens 400')).toBeGreaterThan(50);
    expect(records.length).toBeGreaterThan(50);
  }, 60_000);
});

describe('isLicenseContentType', () => {
  it('takes application/octet-stream with parameters and in any case, nothing else', () => {
    expect(isLicenseContentType('Application/Octet-Stream; foo=bar')).toBe(true);
    expect(isLicenseContentType('application/octet-streams')).toBe(false);
    expect(isLicenseContentType('application/json')).toBe(false);
  });
});

describe('telemetryRecord', () => {
  it('carries every LicenseRequest field under its wire name, 64-bit values as decimal strings', () => {
    const request = exampleLicenseRequest({ systemTotalMemory: 2n ** 63n + 1n });
    const record = telemetryRecord(request, { agreementId: 'a', keyFingerprint: 'f', receivedTimeNs: 5n, decision: 'granted', ingressInstance: 'i' });
    for (const [wire] of licenseRequestFields) expect(record).toHaveProperty([wire]);
    expect(record['system_total_memory']).toBe('9223372036854775809');
    expect(record['config_hash']).toBe(toHex(request.configHash));
    expect(record['cpuid']).toEqual([...request.cpuid]);
    expect(record).toMatchObject({ schema: 'license-ledger/telemetry/v1', agreement_id: 'a', key_fingerprint: 'f', received_time_utc: '5', decision: 'granted', ingress_instance: 'i' });
    expect(JSON.parse(JSON.stringify(record))).toEqual(record);
  });
});
