/**
 * A steady load on one LeaseProcessor through LedgerClient against a real broker, counting what the
 * lease logs: write failures, re-claims and the kafka client's error lines.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx tools/lease/steady-load.ts [per-second] [seconds]
 */
import { randomUUID } from 'node:crypto';
import { LeaseCommand } from '@license-ledger/lease-domain';
import { LeaseProcessor, LedgerClient } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics } from '@license-ledger/platform-testing';

const counts = new Map<string, number>();
const count = (what: string): void => void counts.set(what, (counts.get(what) ?? 0) + 1);
const samples = new Map<string, string>();

function countingLogger(source: string) {
  const note = (level: string) => (fields: object, message: string): void => {
    const event = (fields as { event?: string }).event;
    // What the proposed platform change would log at debug: kafkajs's retries of a CONCURRENT_TRANSACTIONS refusal.
    const expected = /concurrent operation on the same transaction/.test(`${message} ${String((fields as { error?: unknown }).error ?? '')}`);
    const label = `${source} ${level}${expected ? ' (expected retry)' : ''} ${event ?? message.slice(0, 70)}`;
    count(label);
    if (!samples.has(label)) samples.set(label, JSON.stringify({ ...fields, err: String((fields as { err?: unknown }).err ?? '') }).slice(0, 300));
  };
  return { error: note('error'), warn: note('warn'), info: note('info'), debug: note('debug') };
}

function poisson(mean: number): number {
  let k = 0;
  for (let p = Math.random(); p > Math.exp(-mean); p *= Math.random()) k++;
  return k;
}

async function main(): Promise<void> {
  const brokers = (process.env['KAFKA_BROKERS'] ?? '').split(',').filter(Boolean);
  const perSecond = Number(process.argv[2] ?? 50);
  const seconds = Number(process.argv[3] ?? 150);
  const topics = await createTestTopics(brokers, 'load', ['commands', 'events', 'replies'], 6);
  const groupId = `load-${randomUUID().slice(0, 8)}`;
  const leaseBus = new KafkaJsMessageBus({ clientId: 'load-lease', brokers, logger: countingLogger('lease-bus') });
  // Watch the lease's transactions: how many carry only offsets, and how soon after the last one.
  const original = leaseBus.transactionalPublisher.bind(leaseBus);
  leaseBus.transactionalPublisher = async (id: string) => {
    const publisher = await original(id);
    let endedAt = 0;
    return {
      close: () => publisher.close(),
      inTransaction: async (work) => {
        let sent = false;
        let offsets = false;
        const gap = performance.now() - endedAt;
        try {
          return await publisher.inTransaction((tx) => work({
            send: (t, m) => ((sent = sent || m.length > 0), tx.send(t, m)),
            sendAll: (b) => ((sent = sent || b.some((x) => x.messages.length > 0)), tx.sendAll(b)),
            commitConsumerOffsets: (g, o) => ((offsets = true), tx.commitConsumerOffsets(g, o)),
          }));
        } finally {
          endedAt = performance.now();
          if (offsets && !sent) count(`txn offsets-only${gap < 10 ? ' <10ms after the previous' : ''}`);
          else count('txn with records');
        }
      },
    };
  };
  const processor = new LeaseProcessor({ bus: leaseBus, topics, groupId, instanceId: 'load-lease', logger: countingLogger('lease') });
  await processor.start();
  const clientBus = new KafkaJsMessageBus({ clientId: 'load-client', brokers, logger: countingLogger('client-bus') });
  const client = new LedgerClient({ bus: clientBus, topics, instanceId: `load-client-${groupId}`, groupPrefix: groupId });
  await client.start();

  const agreements = Array.from({ length: 12 }, (_, i) => `${groupId}-${i}`);
  // A key is bound to one agreement: one key per agreement.
  const keyOf = (agreementId: string): string => Buffer.alloc(32, 7 + agreements.indexOf(agreementId)).toString('base64');
  for (const agreementId of agreements) {
    await client.send({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: 100 }, metadata: { requestId: randomUUID() } }, 30_000);
    await client.send({ type: 'BindKey', data: { agreementId, key: keyOf(agreementId) }, metadata: { requestId: randomUUID() } }, 30_000);
  }
  counts.clear();
  const outcomes = new Map<string, number>();
  const started = Date.now();
  let sent = 0;
  const inFlight: Promise<void>[] = [];
  while (Date.now() - started < seconds * 1000) {
    // Poisson arrivals on random agreements, as independent gateways send: bursts and gaps.
    const arrivals = poisson((perSecond * 20) / 1000);
    for (let n = 0; n < arrivals; n++, sent++) {
      const agreementId = agreements[Math.floor(Math.random() * agreements.length)] ?? '';
      const command: LeaseCommand = {
        type: 'AcquireLock',
        data: { agreementId, configHash: (sent % 40).toString(16).padStart(64, '0'), holder: { key: keyOf(agreementId), hostname: 'gw', processId: sent % 40, sessionId: 's' } },
        metadata: { requestId: randomUUID() },
      };
      inFlight.push(
        client.send(command, 5_000).then(
          (outcome) => void outcomes.set(outcome.kind, (outcomes.get(outcome.kind) ?? 0) + 1),
          (error: unknown) => void outcomes.set(`error ${(error as Error).name}`, (outcomes.get(`error ${(error as Error).name}`) ?? 0) + 1),
        ),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await Promise.all(inFlight);
  console.log(`${sent} commands in ${seconds} s at ${perSecond}/s: ${JSON.stringify(Object.fromEntries(outcomes))}`);
  for (const [label, n] of [...counts].sort()) if (!label.includes(' debug ') || /retr|concurrent/i.test(label)) console.log(`${String(n).padStart(6)}  ${label}`);
  for (const [label, sample] of samples) if (/error|warn/.test(label)) console.log(`sample ${label}: ${sample}`);
  await client.stop();
  await processor.stop();
  await Promise.all([clientBus.close(), leaseBus.close()]);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
