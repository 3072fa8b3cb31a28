/**
 * End-to-end lease decisions through Kafka: a LedgerClient sends AcquireLock commands (mostly
 * renewals, as gateways do) to one LeaseProcessor over the real broker, with a number of requests
 * in flight; prints commands/s, latency percentiles and this process's CPU time per command (client
 * and processor together: a machine busy with other work disturbs it much less than throughput).
 * Uses its own topics.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx tools/lease/bench-ledger.ts [seconds] [in-flight]
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { LeaseCommand } from '@license-ledger/lease-domain';
import { LeaseProcessor, LedgerClient } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

async function main(): Promise<void> {
  const brokers = (process.env['KAFKA_BROKERS'] ?? '').split(',').filter(Boolean);
  if (brokers.length === 0) throw new Error('set KAFKA_BROKERS (e.g. start one with `npm run kafka -- start`)');
  const seconds = Number(process.argv[2] ?? 20);
  const inFlight = Number(process.argv[3] ?? 64);
  const id = randomUUID().slice(0, 8);
  const topics = { commands: `bench.${id}.commands`, events: `bench.${id}.events`, replies: `bench.${id}.replies` };
  const admin = new Kafka({ clientId: 'bench-admin', brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: Object.values(topics).map((topic) => ({ topic, numPartitions: 6 })) });
  await new Promise((resolve) => setTimeout(resolve, 1_000));

  const leaseBus = new KafkaJsMessageBus({ clientId: 'bench-lease', brokers, logger: silent });
  const processor = new LeaseProcessor({
    bus: leaseBus, topics, groupId: `bench-${id}`, instanceId: 'bench-lease',
    logger: silent,
  });
  await processor.start();
  const clientBus = new KafkaJsMessageBus({ clientId: 'bench-ingress', brokers, logger: silent });
  const client = new LedgerClient({ bus: clientBus, topics, instanceId: `bench-ingress-${id}`, groupPrefix: `bench-${id}` });
  await client.start();

  // One key per agreement: a key is bound to one agreement at a time.
  const keyOf = (i: number): string => Buffer.alloc(32, i + 1).toString('base64');
  const agreements = Array.from({ length: 60 }, (_, i) => `bench-${id}-${i}`);
  const send = (command: LeaseCommand): Promise<unknown> => client.send(command, 30_000);
  for (const [i, agreementId] of agreements.entries()) {
    await send({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: 100 }, metadata: { requestId: randomUUID() } });
    await send({ type: 'BindKey', data: { agreementId, key: keyOf(i) }, metadata: { requestId: randomUUID() } });
  }

  const latencies: number[] = [];
  let done = 0;
  const until = Date.now() + seconds * 1000;
  const started = Date.now();
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, w) => {
      for (let n = 0; Date.now() < until; n++) {
        const index = (w + n) % agreements.length;
        const agreementId = agreements[index] ?? '';
        const key = keyOf(index);
        const command: LeaseCommand = {
          type: 'AcquireLock',
          data: { agreementId, configHash: (w % 50).toString(16).padStart(64, '0'), holder: { key, hostname: `gw-${w}`, processId: w, sessionId: `s-${w}` } },
          metadata: { requestId: randomUUID() },
        };
        const t0 = process.hrtime.bigint();
        await send(command);
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
        done++;
      }
    }),
  );
  const elapsed = (Date.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  const pct = (p: number): string => (latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0).toFixed(1);
  console.log(`end-to-end through Kafka: ${done} commands in ${elapsed.toFixed(1)} s = ${Math.round(done / elapsed)} commands/s with ${inFlight} in flight; latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; CPU ${((cpu.user + cpu.system) / done).toFixed(0)} µs per command`);

  await client.stop();
  await processor.stop();
  await Promise.all([clientBus.close(), leaseBus.close()]);
  await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
  await admin.disconnect();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
