import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { LeaseEvent } from '@license-ledger/lease-domain';
import { encodeJson } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createLogger } from '@license-ledger/platform-logging';
import { connectBusTransport } from '@license-ledger/platform-nest';
import { createTestTopics, eventually, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { createMetricsModule } from '../metrics.module';
import { createScratchDatabase, ScratchDatabase } from '../testing/scratch-database';
import { leaseEvents } from './lease-event-builders';

jest.setTimeout(90_000);
const { brokers, databaseUrl } = integrationEnv();
const T = (hhmm: string): number => Date.parse(`2026-02-10T${hhmm}:00Z`);

describe('usage history: lease events topic -> metrics service -> GET /v1/licenses/usage', () => {
  let db: ScratchDatabase;
  let app: INestApplication;
  let base: string;
  let topics: Record<'events' | 'dead' | 'telemetry', string>;
  const bus = new KafkaJsMessageBus({ clientId: 'usage-history-test', brokers, logger: silentLogger });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyId = `ops-${randomUUID().slice(0, 6)}`;
  const signed = (path: string) => fetch(`${base}${path}`, { headers: { 'X-API-Key': keyId, 'X-API-Signature': sign('sha256', Buffer.from(`GET:${path}`), privateKey).toString('base64') } });
  const publish = (events: readonly LeaseEvent[]) => bus.publish(topics.events, events.map((event) => ({ key: event.data.agreementId, value: encodeJson(event) })));

  beforeAll(async () => {
    db = await createScratchDatabase(databaseUrl);
    await db.query(`INSERT INTO metrics_api_key (key_id, owner, public_key_pem) VALUES ($1, 'ops', $2)`, [keyId, publicKey.export({ type: 'spki', format: 'pem' })]);
    topics = await createTestTopics(brokers, 'test.usage', ['events', 'dead', 'telemetry'], 3);
    await bus.connect();
    const module = createMetricsModule(
      { service: 'metrics', instanceId: 'usage-test', logger: createLogger('metrics', 'error'), kafkaBrokers: brokers, databaseUrl: db.url, databasePoolSize: 4 },
      { consumerGroup: `test-telemetry-${randomUUID().slice(0, 8)}`, topic: topics.telemetry, deadLetterTopic: topics.dead },
      undefined,
      { consumerGroup: `test-usage-${randomUUID().slice(0, 8)}`, topic: topics.events, deadLetterTopic: topics.dead },
    );
    app = await NestFactory.create(module, { logger: false });
    await connectBusTransport(app);
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await app?.close();
    await bus.close();
    await db?.drop();
  });

  it('folds the topic (markers skipped, unreadable records dead-lettered) and answers the documented shape', async () => {
    const acme = leaseEvents('acme');
    const zeta = leaseEvents('zeta');
    await publish([acme.opened(T('09:00'), 2), zeta.opened(T('09:00'), 1)]);
    await bus.publish(topics.events, [
      { key: 'acme', value: encodeJson({ type: 'PartitionClaimed', data: { partition: 0, owner: 'lease-1', claimId: 'c1' }, metadata: { at: T('09:01') } }) },
      { key: 'acme', value: Buffer.from('{"type":"LockGranted","data":{}}') },
    ]);
    await publish([acme.granted(T('09:10'), 1, T('11:10')), acme.granted(T('09:20'), 2, T('09:40')), acme.expired(T('09:40'), 2), acme.denied(T('09:50')), zeta.denied(T('10:05'))]);
    await publish([acme.granted(T('10:30'), 3, T('12:00'))]);

    const path = '/v1/licenses/usage?from=2026-02-10T09:00:00Z&to=2026-02-10T12:00:00Z&by=hour';
    const body = await eventually('the usage history of both agreements', 60_000, async () => {
      const response = await signed(path);
      const json = (await response.json()) as { agreements: Array<{ agreement: string; buckets: Array<{ denials: number; peakLocks: number }> }> };
      const acmeBuckets = json.agreements.find((a) => a.agreement === 'acme')?.buckets ?? [];
      return response.status === 200 && acmeBuckets[1]?.peakLocks === 2 && json.agreements.find((a) => a.agreement === 'zeta')?.buckets[1]?.denials === 1 ? json : undefined;
    });
    expect(body).toEqual({
      by: 'hour',
      from: '2026-02-10T09:00:00.000Z',
      to: '2026-02-10T12:00:00.000Z',
      agreements: [
        {
          agreement: 'acme',
          buckets: [
            { start: '2026-02-10T09:00:00.000Z', peakLocks: 2, licenses: 2, denials: 1 },
            { start: '2026-02-10T10:00:00.000Z', peakLocks: 2, licenses: 2, denials: 0 },
            // Locks 1 (to 11:10) and 3 (to 12:00) are live at 11:00.
            { start: '2026-02-10T11:00:00.000Z', peakLocks: 2, licenses: 2, denials: 0 },
          ],
        },
        {
          agreement: 'zeta',
          buckets: [
            { start: '2026-02-10T09:00:00.000Z', peakLocks: 0, licenses: 1, denials: 0 },
            { start: '2026-02-10T10:00:00.000Z', peakLocks: 0, licenses: 1, denials: 1 },
            { start: '2026-02-10T11:00:00.000Z', peakLocks: 0, licenses: 1, denials: 0 },
          ],
        },
      ],
    });
    const dead = await eventually('the unreadable record dead-lettered', 30_000, async () => {
      const read = (await readTopic(brokers, topics.dead)).filter((m) => m.key === 'acme');
      return read.length > 0 ? read : undefined;
    });
    expect(dead.map((m) => m.value.toString())).toEqual(['{"type":"LockGranted","data":{}}']);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^usage_history_events_applied_total\{[^}]*\} 8$/m);
    expect(metrics).toMatch(/^usage_history_last_event_time_seconds\{[^}]*\} 1770719400$/m);
    // Everything folded: no partition is behind.
    expect([...metrics.matchAll(/^usage_history_consumer_lag\{[^}]*partition="(\d)"[^}]*\} (\d+)$/gm)].map((m) => [m[1], m[2]]).sort()).toEqual([
      ['0', '0'],
      ['1', '0'],
      ['2', '0'],
    ]);
  });

  it('answers one agreement by day, and refuses bad parameters and unsigned requests', async () => {
    const day = (await (await signed('/v1/licenses/usage?agreement=acme&from=2026-02-09T00:00:00Z&to=2026-02-11T00:00:00Z&by=day')).json()) as unknown;
    expect(day).toEqual({
      by: 'day',
      from: '2026-02-09T00:00:00.000Z',
      to: '2026-02-11T00:00:00.000Z',
      agreements: [
        {
          agreement: 'acme',
          buckets: [
            { start: '2026-02-09T00:00:00.000Z', peakLocks: 0, licenses: 0, denials: 0 },
            { start: '2026-02-10T00:00:00.000Z', peakLocks: 2, licenses: 2, denials: 1 },
          ],
        },
      ],
    });
    const bad = await signed('/v1/licenses/usage?by=week');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/^by: /);
    expect((await signed('/v1/licenses/usage?from=2026-02-10T00:00:00Z&to=2026-02-09T00:00:00Z')).status).toBe(400);
    expect((await signed('/v1/licenses/usage?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&by=hour')).status).toBe(400);
    const unsigned = await fetch(`${base}/v1/licenses/usage`, { headers: { 'X-API-Key': keyId, 'X-API-Signature': 'AAAA' } });
    expect(unsigned.status).toBe(401);
    expect(await unsigned.text()).toBe('{"error":401,"message":"Unauthorized"}');
  });
});
