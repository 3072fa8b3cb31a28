/**
 * Raw speed of MessageBus.readRanges: the lean reader (libs/platform/kafka/src/lean) beside the
 * kafkajs reader and kcat (librdkafka; Debian package `kcat`), on the same topic, in alternating
 * rounds. Writes N records (default 1,000,000) to a fresh topic of 6 partitions, shaped like the
 * ledger's (keys of an agreement id, ~150-byte values, 500 records a produce batch), each batch in
 * a transaction of its own with every tenth transaction aborted (so the read-committed filter has
 * work), then reads the whole topic with each reader. Prints records/s and, for the two
 * in-process readers, CPU time per record (user + system of this process).
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx tools/kafka/bench-read.ts [records] [rounds] [readers]
 *
 * readers: which to run, comma-separated (default lean,kafkajs,kcat). BENCH_READ_TOPIC=<topic>
 * reads a topic an earlier run kept (BENCH_READ_KEEP=1) instead of writing one.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const PARTITIONS = 6;
const BATCH = 500;
const VALUE_BYTES = 150;

interface Rate {
  readonly records: number;
  readonly seconds: number;
  readonly cpuUsPerRecord?: number;
}

async function main(): Promise<void> {
  const brokers = (process.env['KAFKA_BROKERS'] ?? '').split(',').filter(Boolean);
  if (brokers.length === 0) throw new Error('set KAFKA_BROKERS');
  const total = Number(process.argv[2] ?? 1_000_000);
  const rounds = Number(process.argv[3] ?? 3);
  const readers = new Set((process.argv[4] ?? 'lean,kafkajs,kcat').split(','));
  const kafka = new Kafka({ clientId: 'bench-read', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const kept = process.env['BENCH_READ_TOPIC'];
  const topic = kept ?? `bench.read.${randomUUID().slice(0, 8)}`;
  const committed = kept ? undefined : await writeTopic(kafka, topic, total);

  const results: Record<string, Rate[]> = { lean: [], kafkajs: [], kcat: [] };
  let expected = committed;
  for (let round = 1; round <= rounds; round++) {
    const kcat = readers.has('kcat') ? kcatRead(brokers, topic) : undefined;
    if (kcat) {
      expected ??= kcat.records;
      results['kcat']?.push(kcat);
      print(`round ${round} kcat`, kcat);
    }
    for (const reader of ['lean', 'kafkajs'] as const) {
      if (!readers.has(reader)) continue;
      const rate = await readAll(brokers, topic, reader);
      if (expected !== undefined && rate.records !== expected) throw new Error(`${reader} read ${rate.records} records, ${expected} were committed`);
      results[reader]?.push(rate);
      print(`round ${round} ${reader}`, rate);
    }
  }
  const best = (rates: readonly Rate[] | undefined): number => Math.max(0, ...(rates ?? []).map((r) => r.records / r.seconds));
  const [lean, kafkajs, kcat] = [best(results['lean']), best(results['kafkajs']), best(results['kcat'])];
  console.log(`best of ${rounds}: lean ${Math.round(lean)} records/s, kafkajs ${Math.round(kafkajs)} records/s, kcat ${Math.round(kcat)} records/s`);
  if (lean && kcat) console.log(`lean / kcat = ${((lean / kcat) * 100).toFixed(0)} % (target: at least 60 %)`);
  if (kafkajs && kcat) console.log(`kafkajs / kcat = ${((kafkajs / kcat) * 100).toFixed(0)} %`);
  if (lean && kafkajs) console.log(`lean / kafkajs = ${(lean / kafkajs).toFixed(2)}x`);

  if (!kept && process.env['BENCH_READ_KEEP'] !== '1') await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
}

/** Writes the topic; returns how many records were committed. */
async function writeTopic(kafka: Kafka, topic: string, total: number): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS }], waitForLeaders: true });
  await admin.disconnect();

  const producer = kafka.producer({ transactionalId: `bench-read-${randomUUID()}`, idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const value = randomBytes(VALUE_BYTES);
  const writeStarted = Date.now();
  let committed = 0;
  for (let sent = 0, n = 0; sent < total; n++) {
    const partition = n % PARTITIONS;
    const count = Math.min(BATCH, total - sent);
    const messages = Array.from({ length: count }, (_, i) => ({ key: `replay-${(sent + i) % 1000}`, value, partition }));
    const transaction = await producer.transaction();
    await transaction.send({ topic, acks: -1, messages });
    if (n % 10 === 9) await transaction.abort();
    else {
      await transaction.commit();
      committed += count;
    }
    sent += count;
  }
  await producer.disconnect();
  console.log(`wrote ${total} records (${committed} committed, the rest aborted) of ${VALUE_BYTES} bytes in ${((Date.now() - writeStarted) / 1000).toFixed(1)} s to ${topic}`);
  return committed;
}

function print(label: string, rate: Rate): void {
  const cpu = rate.cpuUsPerRecord === undefined ? '' : `, ${rate.cpuUsPerRecord.toFixed(2)} µs CPU per record`;
  console.log(`${label}: ${rate.records} records in ${rate.seconds.toFixed(2)} s = ${Math.round(rate.records / rate.seconds)} records/s${cpu}`);
}

async function readAll(brokers: readonly string[], topic: string, reader: 'lean' | 'kafkajs'): Promise<Rate> {
  const bus = new KafkaJsMessageBus({ clientId: `bench-read-${reader}`, brokers, logger: silent, rangeReader: reader });
  try {
    const ranges = await bus.partitionRanges(topic);
    let records = 0;
    let bytes = 0;
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    await bus.readRanges({
      topic,
      ranges,
      onMessages: (messages) => {
        records += messages.length;
        // Touch every record as a consumer would.
        for (const message of messages) bytes += message.value.length;
      },
    });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const used = process.cpuUsage(cpu);
    if (bytes !== records * VALUE_BYTES) throw new Error(`${reader} read ${bytes} value bytes for ${records} records`);
    return { records, seconds, cpuUsPerRecord: (used.user + used.system) / records };
  } finally {
    await bus.close();
  }
}

function kcatRead(brokers: readonly string[], topic: string): Rate | undefined {
  const kcat = spawnSync('sh', ['-c', 'command -v kcat'], { encoding: 'utf8' }).stdout.trim();
  if (!kcat) {
    console.log('kcat not installed (apt-get install kcat): no comparison');
    return undefined;
  }
  const started = process.hrtime.bigint();
  const out = execFileSync('sh', ['-c', `${kcat} -C -q -b ${brokers[0] ?? ''} -t ${topic} -X isolation.level=read_committed -o beginning -e -f '%o\\n' | wc -l`], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { records: Number(out.trim()), seconds };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
