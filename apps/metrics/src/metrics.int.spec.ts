import { generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { Writable } from 'node:stream';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Kafka, logLevel } from 'kafkajs';
import { DeadLetterHeaders, KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { eventually, readTopic } from '@license-ledger/platform-testing';
import { createLogger } from '@license-ledger/platform-logging';
import { connectBusTransport } from '@license-ledger/platform-nest';
import { CUMULATIVE_FIELDS, cumulativeBuckets, encodeLegacyV2, encodeTelemetryRecord, sampleTelemetryRecord } from '@license-ledger/metrics-usage';
import { createMetricsModule } from './metrics.module';
import { createScratchDatabase, ScratchDatabase } from './testing/scratch-database';

const brokersVar = process.env['KAFKA_BROKERS'];
const databaseUrl = process.env['DATABASE_URL'];
if (!brokersVar || !databaseUrl) throw new Error('KAFKA_BROKERS and DATABASE_URL must be set: run `npm test`');
const brokers = brokersVar.split(',');
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

jest.setTimeout(90_000);

const nonce = (): string => randomBytes(16).toString('hex');
const ns = (iso: string): string => (BigInt(Date.parse(iso)) * 1_000_000n).toString();

describe('metrics service on the real broker and database', () => {
  let db: ScratchDatabase;
  let app: INestApplication;
  let base: string;
  let bus: KafkaJsMessageBus;
  const topic = `test.metrics.${randomUUID().slice(0, 8)}`;
  const deadLetters = `${topic}.dead-letters`;
  const group = `test-metrics-${randomUUID().slice(0, 8)}`;
  const logLines: string[] = [];
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyId = `analyst-${randomUUID().slice(0, 6)}`;
  let sent = 0;

  /** Records as the ingress publishes them (v3); strings and buffers (malformed ones) as they are. */
  const publish = async (records: Array<Record<string, unknown> | string | Buffer>): Promise<void> => {
    await bus.publish(
      topic,
      records.map((r) => ({
        key: typeof r === 'string' || Buffer.isBuffer(r) ? 'garbage' : String(r['session_id']),
        value: typeof r === 'string' ? Buffer.from(r) : Buffer.isBuffer(r) ? r : encodeTelemetryRecord(r),
      })),
    );
    sent += records.length;
  };
  /** Waits until the sink has consumed everything published so far. */
  const drained = async (): Promise<void> => {
    for (let i = 0; i < 300; i++) {
      const metrics = await (await fetch(`${base}/metrics`)).text();
      // Counted once a batch is stored: stored + duplicates + rejected = every message handled.
      const handled = [...metrics.matchAll(/^telemetry_(?:reports_stored|reports_duplicate|messages_rejected)_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
      if (handled >= sent) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error('sink did not catch up');
  };
  const signed = (path: string, key = keyId, pk = privateKey) =>
    fetch(`${base}${path}`, { headers: { 'X-API-Key': key, 'X-API-Signature': sign('sha256', Buffer.from(`GET:${path}`), pk).toString('base64') } });

  beforeAll(async () => {
    db = await createScratchDatabase(databaseUrl);
    await db.query(`INSERT INTO metrics_api_key (key_id, owner, public_key_pem) VALUES ($1, 'alice', $2)`, [keyId, publicKey.export({ type: 'spki', format: 'pem' })]);
    const admin = new Kafka({ clientId: 'test-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }, { topic: deadLetters, numPartitions: 1 }], waitForLeaders: true });
    await admin.disconnect();
    bus = new KafkaJsMessageBus({ clientId: 'test-publisher', brokers, logger: silent });
    await bus.connect();
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    const logger = createLogger('metrics', 'warn', sink);
    const module = createMetricsModule(
      { service: 'metrics', instanceId: 'test', logger, kafkaBrokers: brokers, databaseUrl: db.url, databasePoolSize: 4 },
      { consumerGroup: group, topic, deadLetterTopic: deadLetters },
      { maxFailures: 7, windowMs: 60_000 },
    );
    app = await NestFactory.create(module, { logger: false });
    await app.listen(0, '127.0.0.1');
    await connectBusTransport(app);
    base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await bus?.close();
    await db?.drop();
  });

  it('stores telemetry from the topic: session with host facts, one row per report; dead-letters malformed records', async () => {
    const record = sampleTelemetryRecord({ session_id: 'flow-1', agreement_id: 'flow', nonce: nonce(), create_order: 3, hostname: 'gw-flow' });
    await publish(['{not json', encodeTelemetryRecord({ ...record, nonce: 'abcd' }), record]);
    await drained();
    const sessions = await db.query(`SELECT session_id, agreement_id, hostname, package_name, api, is_uat, host->>'machine' AS machine, reports FROM metrics_session WHERE session_id = 'flow-1'`);
    expect(sessions).toEqual([{ session_id: 'flow-1', agreement_id: 'flow', hostname: 'gw-flow', package_name: 'fix-gateway', api: 'fix44', is_uat: false, machine: 'x86_64', reports: '1' }]);
    const reports = await db.query(`SELECT create_order FROM metrics_report WHERE session_id = 'flow-1'`);
    expect(reports).toEqual([{ create_order: '3' }]);
    // The bus logs a dead letter once it is written, which may be just after the batch was counted.
    const deadLines = await eventually('two dead-letter log lines', 10_000, async () => {
      const lines = logLines.filter((l) => l.includes('"dead_lettered"'));
      return lines.length >= 2 ? lines : undefined;
    });
    expect(deadLines).toHaveLength(2);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^telemetry_messages_rejected_total\{[^}]*\} 2$/m);
  });

  it('stores the older formats still on the topic until 2026-12-08 (v1 JSON, v2 binary) in line with v3', async () => {
    const at = (minute: number) => ns(`2026-02-20T10:${String(minute).padStart(2, '0')}:00Z`);
    const record = (count: number, minute: number) => sampleTelemetryRecord({ session_id: 'legacy-1', agreement_id: 'legacy', nonce: nonce(), create_order: count, received_time_utc: at(minute) });
    // One key, as the ingress keys them: one partition, in this order.
    const values = [Buffer.from(JSON.stringify(record(4, 1))), encodeLegacyV2(record(9, 2)), encodeTelemetryRecord(record(20, 3))];
    await bus.publish(topic, values.map((value) => ({ key: 'legacy-1', value })));
    sent += values.length;
    await drained();
    const rows = await db.query<{ create_order: string; restart: boolean }>(`SELECT create_order, restart FROM metrics_report WHERE session_id = 'legacy-1' ORDER BY received_at`);
    expect(rows.map((r) => [Number(r.create_order), r.restart])).toEqual([
      [4, true],
      [5, false],
      [11, false],
    ]);
    expect(await db.query(`SELECT hostname, reports, restarts FROM metrics_session WHERE session_id = 'legacy-1'`)).toEqual([{ hostname: 'gw-1', reports: '3', restarts: '0' }]);
  });

  it('turns a gateway restart into a new count, never a negative delta', async () => {
    const at = (minute: number) => ns(`2026-03-01T10:${String(minute).padStart(2, '0')}:00Z`);
    const cumulative = [100, 150, 20, 30];
    await publish(
      cumulative.map((count, i) =>
        sampleTelemetryRecord({ session_id: 'restart-1', agreement_id: 'restart', nonce: nonce(), create_order: count, cancel_order: i, received_time_utc: at(i) }),
      ),
    );
    await drained();
    const rows = await db.query<{ create_order: string; restart: boolean }>(`SELECT create_order, restart FROM metrics_report WHERE session_id = 'restart-1' ORDER BY received_at`);
    expect(rows.map((r) => Number(r.create_order))).toEqual([100, 50, 20, 10]);
    expect(rows.map((r) => r.restart)).toEqual([true, false, true, false]);
    const [session] = await db.query(`SELECT restarts, reports FROM metrics_session WHERE session_id = 'restart-1'`);
    expect(session).toEqual({ restarts: '1', reports: '4' });
    const usage = (await (await signed('/v1/usage?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z&agreement=restart')).json()) as {
      groups: Array<{ order_actions: Record<string, number>; active_sessions: number }>;
    };
    expect(usage.groups[0]?.order_actions['create_order']).toBe(180);
    expect(usage.groups[0]?.active_sessions).toBe(1);
  });

  it('stores a message delivered twice once, without disturbing the deltas after it', async () => {
    const first = sampleTelemetryRecord({ session_id: 'dup-1', agreement_id: 'dup', nonce: nonce(), modify_order: 10 });
    const second = sampleTelemetryRecord({ session_id: 'dup-1', agreement_id: 'dup', nonce: nonce(), modify_order: 15 });
    await publish([first, first]);
    await publish([second]);
    await drained();
    await publish([first]); // redelivered late, after a newer report
    await drained();
    const rows = await db.query(`SELECT modify_order, restart FROM metrics_report WHERE session_id = 'dup-1' ORDER BY id`);
    expect(rows).toEqual([
      { modify_order: '10', restart: true },
      { modify_order: '5', restart: false },
    ]);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^telemetry_reports_duplicate_total\{[^}]*\} 2$/m);
  });

  it('serves the merged histograms with the hand-computed percentiles', async () => {
    // Two reports of one session, the first at 09:45 (a partial hour: read from the reports) and the
    // second at 10:30 (a whole hour inside the range: read from the hourly roll-up). Together their
    // deltas are 10, 30, 40, 15, 4, 1, 0 samples per internal bucket: p50 1250 ns, p90 4000, p99 10000
    // (libs/metrics/usage/src/usage.spec.ts has the arithmetic).
    await publish([
      sampleTelemetryRecord({ session_id: 'lat-1', agreement_id: 'lat', nonce: nonce(), received_time_utc: ns('2026-04-01T09:45:00Z'), ...cumulativeBuckets('internal', [5, 10, 20, 5, 2, 0, 0], 1000), ...cumulativeBuckets('external', [1, 0, 0, 0, 0, 0, 0], 10) }),
      sampleTelemetryRecord({ session_id: 'lat-1', agreement_id: 'lat', nonce: nonce(), received_time_utc: ns('2026-04-01T10:30:00Z'), ...cumulativeBuckets('internal', [10, 30, 40, 15, 4, 1, 0], 2000), ...cumulativeBuckets('external', [1, 2, 0, 0, 0, 0, 1], 30) }),
    ]);
    await drained();
    const response = await signed('/v1/latency?from=2026-04-01T09:30:00Z&to=2026-04-01T12:30:00Z&agreement=lat');
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, { count: number; sum: number; p50: unknown; p90: unknown; p99: unknown }>;
    expect(body['reports']).toBe(2);
    expect(body['internal']).toMatchObject({ count: 100, sum: 2000, p50: { ns: 1250, overflow: false }, p90: { ns: 4000, overflow: false }, p99: { ns: 10000, overflow: false } });
    // External: 1 at <=10us, 2 in (10us, 100us], 1 above 1s: p50 = 10us + 90us * (2-1)/2 = 55us; p99 in +Inf.
    expect(body['external']).toMatchObject({ count: 4, p50: { ns: 55_000, overflow: false }, p99: { ns: 1_000_000_000, overflow: true } });
    const hourly = await db.query(`SELECT hour, reports FROM metrics_latency_hourly WHERE agreement_id = 'lat' ORDER BY hour`);
    expect(hourly.map((h) => Number(h['reports']))).toEqual([1, 1]);
    // A range holding the whole day: read from the daily roll-up (plus hours and reports at the ends).
    const daily = (await (await signed('/v1/latency?from=2026-03-31T22:30:00Z&to=2026-04-02T01:30:00Z&agreement=lat')).json()) as typeof body;
    expect(daily['internal']).toEqual(body['internal']);
    expect(daily['external']).toEqual(body['external']);
    const days = await db.query(`SELECT day, reports FROM metrics_latency_daily WHERE agreement_id = 'lat'`);
    expect(days).toEqual([{ day: new Date('2026-04-01T00:00:00Z'), reports: '2' }]);
    // Nothing outside the range.
    const none = (await (await signed('/v1/latency?from=2026-04-01T11:00:00Z&to=2026-04-01T11:30:00Z&agreement=lat')).json()) as Record<string, { count: number; p50: unknown }>;
    expect(none['internal']).toMatchObject({ count: 0, p50: null });
    const gateways = (await (await signed('/v1/gateways?from=2026-04-01T00:00:00Z&to=2026-04-02T00:00:00Z&agreement=lat')).json()) as { sessions: Array<Record<string, unknown>> };
    expect(gateways.sessions).toHaveLength(1);
    expect(gateways.sessions[0]).toMatchObject({ session_id: 'lat-1', hostname: 'gw-1', last_seen: '2026-04-01T10:30:00.000Z', first_seen: '2026-04-01T09:45:00.000Z' });
    const byDay = (await (await signed('/v1/usage?from=2026-03-01T00:00:00Z&to=2026-05-01T00:00:00Z&group_by=day')).json()) as { groups: Array<{ key: string }> };
    expect(byDay.groups.map((g) => g.key)).toEqual(['2026-03-01', '2026-04-01']);
  });

  it('stores counters at 2^63-1 from several sessions and serves their hourly and daily sums exactly', async () => {
    // Every counter, sum and bucket at the largest value validation accepts, in three sessions (one of
    // them restarting, which counts it again): four times 2^63-1 in one hour and one day, far beyond
    // bigint and 2^53. Sums above 2^53-1 are served as decimal strings, smaller ones as numbers.
    const MAX = 2n ** 63n - 1n;
    const at = (minute: number) => ns(`2026-06-01T10:${String(minute).padStart(2, '0')}:00Z`);
    const all = Object.fromEntries(CUMULATIVE_FIELDS.map((f) => [f, MAX.toString()]));
    const wide = (session: string, minute: number, extra: Record<string, unknown> = {}) =>
      sampleTelemetryRecord({ ...all, session_id: session, agreement_id: 'wide', nonce: nonce(), received_time_utc: at(minute), ...extra });
    await publish([wide('wide-1', 10), wide('wide-2', 20), wide('wide-3', 30), wide('wide-1', 40, { process_id: '4243' })]);
    await drained();
    const four = (4n * MAX).toString();
    const [hour] = await db.query(`SELECT reports, int_sum, ext_inf FROM metrics_latency_hourly WHERE agreement_id = 'wide'`);
    expect(hour).toEqual({ reports: '4', int_sum: four, ext_inf: four });

    const usage = (await (await signed('/v1/usage?from=2026-06-01T00:00:00Z&to=2026-06-02T00:00:00Z&agreement=wide')).json()) as {
      groups: Array<{ reports: unknown; active_sessions: unknown; order_actions: Record<string, unknown> }>;
    };
    expect(usage.groups).toHaveLength(1);
    expect(usage.groups[0]).toMatchObject({ reports: 4, active_sessions: 3 });
    expect(usage.groups[0]?.order_actions).toEqual({ create_order: four, modify_order: four, cancel_order: four, cancel_all_orders: four, mass_quote: four, cancel_quotes: four });

    type Latency = { reports: unknown; internal: { count: unknown; sum: unknown; buckets: Array<{ count: unknown }>; p50: unknown }; external: { count: unknown; sum: unknown; buckets: Array<{ count: unknown }> } };
    const latency = async (from: string, to: string) => (await (await signed(`/v1/latency?from=${from}&to=${to}&agreement=wide`)).json()) as Latency;
    // Whole day (daily roll-up), one whole hour (hourly roll-up), partial hours (the reports themselves).
    for (const [from, to, reports, total] of [
      ['2026-05-31T23:30:00Z', '2026-06-02T00:30:00Z', 4, four],
      ['2026-06-01T10:00:00Z', '2026-06-01T11:00:00Z', 4, four],
      ['2026-06-01T10:15:00Z', '2026-06-01T10:35:00Z', 2, (2n * MAX).toString()],
      ['2026-06-01T10:05:00Z', '2026-06-01T10:15:00Z', 1, MAX.toString()],
    ] as const) {
      const body = await latency(from, to);
      expect(body.reports).toBe(reports);
      expect(body.internal).toMatchObject({ count: total, sum: total });
      expect(body.internal.buckets.map((b) => b.count)).toEqual(Array(7).fill(total));
      // Every sample at or below the first bound (500 ns): p50 halfway into it.
      expect(body.internal.p50).toEqual({ ns: 250, overflow: false });
      expect(body.external).toMatchObject({ count: total, sum: total });
      expect(body.external.buckets.map((b) => b.count)).toEqual(Array(7).fill(total));
    }
  });

  it('serves the OpenAPI document with the signing instructions, unauthenticated', async () => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; info: { description: string }; paths: Record<string, unknown> };
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.description).toContain('X-API-Signature');
    expect(Object.keys(doc.paths)).toEqual(['/v1/usage', '/v1/latency', '/v1/gateways', '/v1/usage/series', '/v1/latency/series', '/v1/licenses/usage']);
  });

  it('answers every authentication error byte for byte, logs it, and throttles repeated failures', async () => {
    const path = '/v1/usage?from=2026-03-01T00:00:00Z&to=2026-03-02T00:00:00Z';
    const expectBody = async (response: Response, status: number, body: string) => {
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await response.text()).toBe(body);
    };
    await expectBody(await fetch(`${base}${path}`), 400, '{"error":400,"message":"Api key header not provided"}');
    await expectBody(await fetch(`${base}${path}`, { headers: { 'X-API-Key': keyId } }), 400, '{"error":400,"message":"Signature header not provided"}');
    await expectBody(await signed(path, 'nobody'), 401, '{"error":401,"message":"Unauthorized"}');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    await expectBody(await signed(path, keyId, other), 401, '{"error":401,"message":"Unauthorized"}');
    // Signed for another path (query changed after signing).
    const signature = sign('sha256', Buffer.from(`GET:${path}`), privateKey).toString('base64');
    await expectBody(await fetch(`${base}${path}&agreement=x`, { headers: { 'X-API-Key': keyId, 'X-API-Signature': signature } }), 401, '{"error":401,"message":"Unauthorized"}');
    expect((await signed(path)).status).toBe(200);
    expect(logLines.filter((l) => l.includes('"api_auth_failed"')).map((l) => (JSON.parse(l) as { reason: string }).reason)).toEqual([
      'missing_key',
      'missing_signature',
      'unknown_key',
      'bad_signature',
      'bad_signature',
    ]);
    // A revoked key stops working at once.
    await db.query(`UPDATE metrics_api_key SET revoked_at = now() WHERE key_id = $1`, [keyId]);
    await expectBody(await signed(path), 401, '{"error":401,"message":"Unauthorized"}');
    // 7 failures from this address within the window: from then on 429.
    await expectBody(await signed(path, 'nobody'), 401, '{"error":401,"message":"Unauthorized"}');
    await expectBody(await signed(path, 'nobody'), 429, '{"error":429,"message":"Too many failed attempts"}');
    await expectBody(await fetch(`${base}${path}`), 429, '{"error":429,"message":"Too many failed attempts"}');
  });

  it('dead-letters a record the database refuses and a malformed one, with their origin, and stores the records after them', async () => {
    const hour = (minute: number): string => ns(`2026-05-01T10:${String(minute).padStart(2, '0')}:00Z`);
    const report = (session: string, latencySum: string, minute: number) =>
      encodeTelemetryRecord(sampleTelemetryRecord({ session_id: session, agreement_id: 'poison', nonce: nonce(), internal_latency_sum: latencySum, received_time_utc: hour(minute) }));
    // Valid telemetry the database can never store stands in for whatever a future bug lets through
    // validation: this schema refuses one session's reports (23514, every time).
    await db.query(`ALTER TABLE metrics_report ADD CONSTRAINT poison_refused CHECK (session_id <> 'poison-bad')`);
    // One key: all five on one partition, in this order. The fourth (int64 max, summed with the others
    // beyond bigint in the hourly roll-up) once wedged the partition: it must be stored.
    // The second fails validation: a uint64 counter above 2^63-1 (docs/telemetry.md).
    const values = [
      report('poison-ok', '1000', 1),
      encodeTelemetryRecord(sampleTelemetryRecord({ session_id: 'poison-wide', agreement_id: 'poison', nonce: nonce(), create_order: '18446744073709551615', received_time_utc: hour(1) })),
      report('poison-bad', '5', 2),
      report('poison-max', '9223372036854775807', 3),
      report('poison-after', '2000', 4),
    ];
    await bus.publish(topic, values.map((value) => ({ key: 'poison-partition', value, headers: { origin: 'test' } })));
    sent += 4; // the refused record is neither stored nor rejected: drained() never counts it

    const dead = await eventually('two dead letters', 60_000, async () => {
      const read = await readTopic(brokers, deadLetters);
      return read.filter((m) => m.key === 'poison-partition').length >= 2 ? read.filter((m) => m.key === 'poison-partition') : undefined;
    });
    expect(dead.map((m) => m.value)).toEqual([values[1], values[2]]);
    const [malformed, refused] = dead;
    expect(malformed?.headers).toMatchObject({ origin: 'test', [DeadLetterHeaders.topic]: topic, [DeadLetterHeaders.group]: group });
    expect(malformed?.headers[DeadLetterHeaders.error]).toBe('invalid telemetry: v3: create_order exceeds 2^63-1');
    expect(refused?.headers[DeadLetterHeaders.error]).toMatch(/violates check constraint "poison_refused"/);
    expect(refused?.headers[DeadLetterHeaders.partition]).toBe(malformed?.headers[DeadLetterHeaders.partition]);
    expect(BigInt(refused?.headers[DeadLetterHeaders.offset] ?? '0') - BigInt(malformed?.headers[DeadLetterHeaders.offset] ?? '0')).toBe(1n);
    expect(Date.parse(refused?.headers[DeadLetterHeaders.failedAt] ?? '')).toBeGreaterThan(Date.now() - 120_000);

    const stored = await eventually('the records after the poison', 60_000, async () => {
      const rows = await db.query<{ session_id: string }>(`SELECT session_id FROM metrics_report WHERE agreement_id = 'poison' ORDER BY session_id`);
      return rows.length >= 3 ? rows : undefined;
    });
    expect(stored.map((r) => r.session_id)).toEqual(['poison-after', 'poison-max', 'poison-ok']);
    const [rollUp] = await db.query<{ int_sum: string; reports: string }>(`SELECT int_sum, reports FROM metrics_latency_hourly WHERE agreement_id = 'poison'`);
    expect(rollUp).toEqual({ int_sum: (9223372036854775807n + 3000n).toString(), reports: '3' });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^dead_lettered_records_total\\{[^}]*topic="${topic.replace(/\./g, '\\.')}"[^}]*\\} 4$`, 'm'));
    const lines = logLines.filter((l) => l.includes('"dead_lettered"'));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(JSON.parse(lines[lines.length - 1] ?? '{}')).toMatchObject({ topic, group, partition: expect.any(Number), offset: expect.any(String), reason: expect.stringMatching(/poison_refused/) });
  });
});
