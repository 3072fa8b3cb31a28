import { ByteBuffer } from 'flatbuffers';
import type { MessagePublisher, OutgoingMessage } from '@license-ledger/platform-kafka';
import { parseTelemetry, plainReport, TelemetryRecord } from '@license-ledger/metrics-usage';
import { decodeLicenseRequest, encodeLicenseRequest, exampleLicenseRequest, type LicenseRequest } from '@license-ledger/protocol-wire';
import { toHex } from '@license-ledger/protocol-crypto';
import { encodeTelemetryEnvelope, telemetryEnvelope, telemetryRecord, TelemetryPublisher, type TelemetryEnvelope } from './telemetry';

const envelope = (n: number, request: LicenseRequest = exampleLicenseRequest()): TelemetryEnvelope =>
  telemetryEnvelope(request, { agreementId: `a-${n}`, keyFingerprint: 'a4d6a7e01b5ef66a', receivedTimeNs: 1795435563652000123n, decision: 'granted', ingressInstance: 'ingress-1' }, encodeLicenseRequest(request));

describe('the published telemetry record (v3)', () => {
  it('is a TelemetryRecord holding the request bytes as sealed, and who and when', () => {
    const request = exampleLicenseRequest({ createOrder: 2n ** 53n + 1n, sessionId: 's-ü', cpuAffinity: [0, 4294967295] });
    const env = envelope(7, request);
    const record = TelemetryRecord.getRootAsTelemetryRecord(new ByteBuffer(encodeTelemetryEnvelope(env)));
    expect(TelemetryRecord.bufferHasIdentifier(record.bb as ByteBuffer)).toBe(true);
    expect(Buffer.from(record.requestArray() as Uint8Array).equals(env.requestBytes)).toBe(true);
    expect(decodeLicenseRequest(record.requestArray() as Uint8Array)).toEqual(request);
    expect([record.agreementId(), record.keyFingerprint(), record.receivedTimeUtc(), record.decision(), record.ingressInstance()]).toEqual(['a-7', 'a4d6a7e01b5ef66a', 1795435563652000123n, 0, 'ingress-1']);
  });

  it('reads back as the same report as the v1 JSON of the same request did (the legacy reader, until 2026-12-08)', () => {
    const request = exampleLicenseRequest({ createOrder: 2n ** 53n + 1n, internalLatencySum: 123n, sessionId: 's-ü' });
    const env = envelope(1, request);
    const v3 = parseTelemetry(encodeTelemetryEnvelope(env));
    const v1 = parseTelemetry(JSON.stringify(telemetryRecord(request, env.context)));
    if (!v3.ok || !v1.ok) throw new Error(`${v3.ok ? '' : v3.error} ${v1.ok ? '' : v1.error}`);
    expect({ ...plainReport(v3.report), version: 1 }).toEqual(plainReport(v1.report));
    expect(v3.report.version).toBe(3);
    expect(v3.report.nonce).toBe(toHex(request.nonce));
    expect(v3.report.cumulativeBig?.[0]).toBe(2n ** 53n + 1n);
    expect(v3.report.received_at).toBe('2026-11-23T12:06:03.652000Z');
  });

  it('is rejected by the sink when a uint64 exceeds 2^63-1 (PostgreSQL bigint)', () => {
    const parsed = parseTelemetry(encodeTelemetryEnvelope(envelope(1, exampleLicenseRequest({ systemTotalMemory: 2n ** 63n + 1n }))));
    expect(parsed).toEqual({ ok: false, error: 'v3: system_total_memory exceeds 2^63-1' });
  });
});

describe('TelemetryPublisher', () => {
  it('publishes off the caller, in batches, one publish at a time', async () => {
    const batches: OutgoingMessage[][] = [];
    let release: () => void = () => undefined;
    const bus: MessagePublisher = {
      publish: async (_topic, messages) => {
        batches.push([...messages]);
        await new Promise<void>((resolve) => (release = resolve));
      },
    };
    const publisher = new TelemetryPublisher({ bus, topic: 't' });
    publisher.enqueue('s1', envelope(1));
    publisher.enqueue('s2', envelope(2));
    expect(batches).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((b) => b.length)).toEqual([2]);
    publisher.enqueue('s3', envelope(3));
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((b) => b.length)).toEqual([2]);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((b) => b.length)).toEqual([2, 1]);
    expect(batches[1]?.[0]).toEqual({ key: 's3', value: encodeTelemetryEnvelope(envelope(3)) });
    release();
    await publisher.flush();
    expect(publisher.published).toBe(3);
  });

  it('drops (and counts) a record the metrics sink would refuse, publishing the rest', async () => {
    const published: OutgoingMessage[] = [];
    const refused: string[] = [];
    const publisher = new TelemetryPublisher({ bus: { publish: async (_t, messages) => void published.push(...messages) }, topic: 't', onUnstorable: (reason) => refused.push(reason) });
    publisher.enqueue('s1', envelope(1, exampleLicenseRequest({ processMaxRss: 2n ** 64n - 1n })));
    publisher.enqueue('s2', envelope(2, exampleLicenseRequest({ cpuAffinity: Array.from({ length: 1_025 }, (_, i) => i) })));
    publisher.enqueue('s3', envelope(3));
    await publisher.flush();
    expect(refused).toEqual(['v3: process_max_rss exceeds 2^63-1', 'v3: cpu_affinity has more than 1024 values']);
    expect(published.map((m) => m.key)).toEqual(['s3']);
    expect({ published: publisher.published, dropped: publisher.dropped }).toEqual({ published: 1, dropped: 2 });
  });

  it('drops (and counts) what it cannot publish or queue', async () => {
    const errors: number[] = [];
    const publisher = new TelemetryPublisher({ bus: { publish: async () => Promise.reject(new Error('down')) }, topic: 't', maxQueued: 2, onError: (_e, n) => errors.push(n) });
    for (let i = 0; i < 3; i++) publisher.enqueue(null, envelope(i));
    await publisher.flush();
    expect(errors).toEqual([2]);
    expect(publisher.dropped).toBe(3);
  });
});
