/**
 * Replay speed: writes a ledger of N events (default 1,000,000; decided by the real decider, so
 * they are valid) to a fresh topic, then times (1) our replay: read from the beginning through the
 * MessageBus, decode and fold into partition state, and (2) the raw read of the same topic by
 * kcat (Debian package `kcat`), which only copies bytes. Target: replay at least half of raw.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx tools/lease/bench-replay.ts [events]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { decide, evolve, initialState, LeaseCommand, LeaseEvent, AgreementState, serializeLeaseEvent } from '@license-ledger/lease-domain';
import { decodeLedgerRecord, PartitionLedger } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const PARTITIONS = 6;

function* ledgerEvents(total: number): Generator<LeaseEvent> {
  const agreements = 1_000;
  // One key per agreement, as the ledger allows.
  const keyOf = (a: number): string => {
    const bytes = Buffer.alloc(32, 2);
    bytes.writeUInt32BE(a);
    return bytes.toString('base64');
  };
  const states = new Map<string, AgreementState>();
  let now = Date.UTC(2026, 0, 1);
  let produced = 0;
  const run = function* (command: LeaseCommand): Generator<LeaseEvent> {
    const id = command.data.agreementId;
    const state = states.get(id) ?? initialState(id);
    for (const event of decide(command, state, now)) {
      states.set(id, evolve(state, event));
      produced++;
      yield event;
    }
  };
  for (let a = 0; a < agreements; a++) {
    const agreementId = `replay-${a}`;
    yield* run({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: 1_000 }, metadata: { requestId: randomUUID() } });
    // What the key's partition sends once it has reserved the key (deciding BindKey alone only
    // records the request).
    yield* run({ type: 'BindReservedKey', data: { agreementId, key: keyOf(a) }, metadata: { requestId: randomUUID() } });
  }
  for (let n = 0; produced < total; n++) {
    now += 1;
    const agreementId = `replay-${n % agreements}`;
    const lock = (n * 7919) % 500;
    yield* run({
      type: 'AcquireLock',
      data: { agreementId, configHash: lock.toString(16).padStart(64, '0'), holder: { key: keyOf(n % agreements), hostname: `gateway-host-${lock}`, processId: lock, sessionId: `session-${lock}` } },
      metadata: { requestId: randomUUID() },
    });
  }
}

async function main(): Promise<void> {
  const brokers = (process.env['KAFKA_BROKERS'] ?? '').split(',').filter(Boolean);
  if (brokers.length === 0) throw new Error('set KAFKA_BROKERS');
  const total = Number(process.argv[2] ?? 1_000_000);
  const topic = `bench.replay.${randomUUID().slice(0, 8)}`;
  const kafka = new Kafka({ clientId: 'bench-replay', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }] });
  await new Promise((resolve) => setTimeout(resolve, 1_000));

  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  let written = 0;
  let bytes = 0;
  const writeStarted = Date.now();
  let batch: Array<{ key: string; value: string }> = [];
  for (const event of ledgerEvents(total)) {
    const value = serializeLeaseEvent(event);
    bytes += value.length;
    batch.push({ key: event.data.agreementId, value });
    if (batch.length === 2_000) {
      await producer.send({ topic, acks: 1, messages: batch });
      written += batch.length;
      batch = [];
    }
  }
  if (batch.length > 0) await producer.send({ topic, acks: 1, messages: batch });
  written += batch.length;
  await producer.disconnect();
  console.log(`wrote ${written} events (${(bytes / 1e6).toFixed(0)} MB of JSON) in ${((Date.now() - writeStarted) / 1000).toFixed(1)} s`);

  // (1) Our replay: MessageBus consumer, decode, fold.
  const bus = new KafkaJsMessageBus({ clientId: 'bench-replay-reader', brokers, logger: silent });
  const ledgers = new Map<number, PartitionLedger>();
  let replayed = 0;
  const replayStarted = process.hrtime.bigint();
  let finished: () => void = () => undefined;
  const allRead = new Promise<void>((resolve) => (finished = resolve));
  const subscription = await bus.subscribe({
    groupId: `bench-replay-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    commit: 'none',
    maxWaitMs: 100,
    onMessages: async (messages, partition) => {
      let ledger = ledgers.get(partition.partition);
      if (!ledger) ledgers.set(partition.partition, (ledger = new PartitionLedger(partition.partition)));
      for (const message of messages) ledger.applyFromLog(BigInt(message.offset), decodeLedgerRecord(message.value));
      replayed += messages.length;
      if (replayed >= written) finished();
    },
  });
  await allRead;
  const replaySeconds = Number(process.hrtime.bigint() - replayStarted) / 1e9;
  await subscription.stop();
  await bus.close();
  const replayRate = written / replaySeconds;
  console.log(`replay (read + decode + fold): ${written} events in ${replaySeconds.toFixed(1)} s = ${Math.round(replayRate)} events/s`);

  // (1b) The same read through the MessageBus without decoding: how much is the client library's.
  const countingBus = new KafkaJsMessageBus({ clientId: 'bench-replay-counter', brokers, logger: silent });
  let counted = 0;
  let countedAll: () => void = () => undefined;
  const countDone = new Promise<void>((resolve) => (countedAll = resolve));
  const countStarted = process.hrtime.bigint();
  const counting = await countingBus.subscribe({
    groupId: `bench-replay-count-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    commit: 'none',
    maxWaitMs: 100,
    onMessages: async (messages) => {
      counted += messages.length;
      if (counted >= written) countedAll();
    },
  });
  await countDone;
  const countSeconds = Number(process.hrtime.bigint() - countStarted) / 1e9;
  await counting.stop();
  await countingBus.close();
  console.log(`read only through the MessageBus (kafkajs, no decode): ${Math.round(written / countSeconds)} events/s`);

  // (2) Raw read of the same topic by kcat.
  const kcat = spawnSync('sh', ['-c', 'command -v kcat'], { encoding: 'utf8' }).stdout.trim();
  if (!kcat) {
    console.log('raw read: kcat not installed (apt-get install kcat); no comparison');
  } else {
    const rawStarted = process.hrtime.bigint();
    const out = execFileSync('sh', ['-c', `${kcat} -C -q -b ${brokers[0] ?? ''} -t ${topic} -o beginning -e -f '%o\\n' | wc -l`], { encoding: 'utf8', maxBuffer: 1 << 20 });
    const rawSeconds = Number(process.hrtime.bigint() - rawStarted) / 1e9;
    const rawRate = Number(out.trim()) / rawSeconds;
    console.log(`raw read (kcat): ${out.trim()} records in ${rawSeconds.toFixed(1)} s = ${Math.round(rawRate)} records/s`);
    console.log(`replay / raw = ${((replayRate / rawRate) * 100).toFixed(0)} % (target: at least 50 %)`);
  }
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
