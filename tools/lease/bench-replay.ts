/**
 * Replay speed, before and after the binary chained records (docs/ledger-integrity.md): writes the
 * same ledger of N events (default 1,000,000; decided by the real decider, so they are valid) twice
 * to fresh topics, with the same partitions and order:
 *   before: JSON records, as lease versions before the chain wrote them;
 *   after:  version-1 records (binary events, hash-chained, a signed checkpoint every 10,000), as
 *           the lease writes them now.
 * Each is then replayed the way a lease instance's log reader does it (lease-processor.ts: a
 * MessageBus subscription with its fetch options, PartitionLedger.applyFromLog on every record:
 * decode, follow the chain, fold), and read raw by kcat (Debian package `kcat`), which only copies
 * bytes. Also printed: the same MessageBus read without decoding (the client library's share), and
 * the chained log replayed as a lease instance without snapshots does at start, up to the log's
 * end, before its subscription follows the rest (partition-states.ts): a bounded read of every
 * partition (MessageBus.readRanges) folded on its own thread, then with fold threads as well
 * (fold-threads.ts; LEDGER_FOLD_THREADS, default min(4, cores)). Those two run in a fresh, plain
 * Node process each, as a starting instance does (not in this one, whose heap holds what writing the
 * logs left, and not through tsx, whose compiled modules reach each other's exports through
 * getters), over the lease service's build: `npm run build` first. They take turns with kcat in
 * three rounds, and the ratio is of the medians.
 * The replay at start reads two chained logs of the same events: the one above, a burst (a command
 * a millisecond, so the 12-minute window of remembered request ids holds most of the log), and one
 * written at a fleet's pace (each gateway renewing every 30 minutes), as a log that grows over
 * months is (PACES).
 * Target: replay at least half of raw.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx tools/lease/bench-replay.ts [events]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Producer } from 'kafkajs';
import { decide, evolve, initialState, LeaseCommand, LeaseEvent, AgreementState, serializeLeaseEvent } from '@license-ledger/lease-domain';
import { chainRecords, ChainPosition, checkpointDue, DEFAULT_CHECKPOINT_POLICY, DEFAULT_FOLD_THREADS, initialChainPosition, PartitionLedger } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus, ReceivedMessage } from '@license-ledger/platform-kafka';
import { SigningKey, systemRandom } from '@license-ledger/protocol-crypto';

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const PARTITIONS = 6;
const AGREEMENTS = 1_000;
/** Rounds of the replay at start beside kcat. */
const AT_START_ROUNDS = 3;
/** Events per transaction as a busy owner writes them (group commit). */
const TRANSACTION = 500;
/**
 * Time between two commands of a log. A burst: a million events within 17 minutes, most of them
 * inside the 12-minute window a replay must remember request ids for (REQUEST_MEMORY_MS), so the
 * replay holds nearly the whole log in memory. At a fleet's pace (its 1,000 gateways renewing every
 * 30 minutes), as a log that grows over months is: the same million events over three weeks, the
 * window holding a few hundred of them.
 */
const PACES = { burst: 1, fleet: 1_800 } as const;

function* ledgerEvents(total: number, stepMs: number): Generator<LeaseEvent> {
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
  for (let a = 0; a < AGREEMENTS; a++) {
    const agreementId = `replay-${a}`;
    yield* run({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: 1_000 }, metadata: { requestId: randomUUID() } });
    // What the key's partition sends once it has reserved the key (deciding BindKey alone only
    // records the request).
    yield* run({ type: 'BindReservedKey', data: { agreementId, key: keyOf(a) }, metadata: { requestId: randomUUID() } });
  }
  for (let n = 0; produced < total; n++) {
    now += stepMs;
    const agreementId = `replay-${n % AGREEMENTS}`;
    const lock = (n * 7919) % 500;
    yield* run({
      type: 'AcquireLock',
      data: { agreementId, configHash: lock.toString(16).padStart(64, '0'), holder: { key: keyOf(n % AGREEMENTS), hostname: `gateway-host-${lock}`, processId: lock, sessionId: `session-${lock}` } },
      metadata: { requestId: randomUUID() },
    });
  }
}

/** Every agreement's events stay on one partition, in order, in both logs. */
const partitionOf = (event: LeaseEvent): number => Number(event.data.agreementId.slice('replay-'.length)) % PARTITIONS;

interface Rates {
  readonly replay: number;
  readonly raw: number | undefined;
}

async function main(): Promise<void> {
  const brokers = (process.env['KAFKA_BROKERS'] ?? '').split(',').filter(Boolean);
  if (brokers.length === 0) throw new Error('set KAFKA_BROKERS');
  if (!existsSync(join(LEASE_LIBS, 'lease', 'ledger', 'src', 'index.js'))) throw new Error('the replay at start runs the lease service\'s build: run `npm run build` first');
  const total = Number(process.argv[2] ?? 1_000_000);
  const kafka = new Kafka({ clientId: 'bench-replay', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const run = randomUUID().slice(0, 8);
  const before = `bench.replay.${run}.json`;
  const after = `bench.replay.${run}.chained`;
  const paced = `bench.replay.${run}.fleet-pace`;
  await admin.createTopics({ topics: [before, after, paced].map((topic) => ({ topic, numPartitions: PARTITIONS })), waitForLeaders: true });

  const producer = kafka.producer();
  await producer.connect();
  const signer = SigningKey.generate(systemRandom);
  const writeStarted = Date.now();
  const burst = await writeLog(producer, signer, ledgerEvents(total, PACES.burst), { chained: after, json: before });
  console.log(
    `wrote ${burst.events} events twice (a burst: one command every ${PACES.burst} ms) in ${((Date.now() - writeStarted) / 1000).toFixed(1)} s: ` +
      `${(burst.jsonBytes / 1e6).toFixed(0)} MB of JSON, ${(burst.chainedBytes / 1e6).toFixed(0)} MB of chained binary records (checkpoints included)`,
  );
  const fleet = await writeLog(producer, signer, ledgerEvents(total, PACES.fleet), { chained: paced });
  console.log(`wrote ${fleet.events} events at a fleet's pace (one command every ${PACES.fleet} ms): ${(fleet.chainedBytes / 1e6).toFixed(0)} MB of chained binary records`);
  await producer.disconnect();

  const results = new Map<string, Rates>();
  for (const [label, topic] of [['before (JSON records)', before], ['after (binary, chained)', after]] as const) {
    const ledgers = new Map<number, PartitionLedger>();
    const replayed = await timedRead(brokers, topic, (messages) => {
      const partition = messages[0]?.partition ?? 0;
      let ledger = ledgers.get(partition);
      if (!ledger) ledgers.set(partition, (ledger = new PartitionLedger(partition)));
      for (const message of messages) ledger.applyFromLog(BigInt(message.offset), message.value);
    });
    const raw = rawRead(brokers, topic);
    results.set(label, { replay: replayed.rate, raw: raw?.rate });
    console.log(`${label}: replay (read + decode + chain + fold) ${replayed.records} records in ${replayed.seconds.toFixed(1)} s = ${Math.round(replayed.rate)} records/s`);
    if (raw) console.log(`${label}: raw read (kcat) ${raw.records} records in ${raw.seconds.toFixed(1)} s = ${Math.round(raw.rate)} records/s; replay / raw = ${((replayed.rate / raw.rate) * 100).toFixed(0)} % (the subscription only follows the log once the read at start below has caught up)`);
    else console.log('raw read: kcat not installed (apt-get install kcat); no comparison');
  }
  atStartRounds(brokers, after, `after (binary, chained), a burst`, 'the decision memory\'s worst case; the target is the fleet-paced log\'s');
  atStartRounds(brokers, paced, `after (binary, chained), at a fleet's pace`, 'target: at least 50 %');
  const counted = await timedRead(brokers, after, () => undefined);
  console.log(`after: read only through the MessageBus (kafkajs, no decode): ${Math.round(counted.rate)} records/s`);
  // readRanges (ledger replay/verify, snapshot loads): the lean reader, kafkajs's and kcat's raw read.
  const [leanRead, kafkajsRead] = [await timedReadRanges(brokers, after, 'lean'), await timedReadRanges(brokers, after, 'kafkajs')];
  const rawAfter = results.get('after (binary, chained)')?.raw;
  console.log(
    `after: raw readRanges (no decode): lean reader ${Math.round(leanRead)} records/s, kafkajs ${Math.round(kafkajsRead)} records/s, kcat ${rawAfter ? Math.round(rawAfter) : 'n/a'} records/s` +
      (rawAfter ? `; lean / kcat = ${((leanRead / rawAfter) * 100).toFixed(0)} %` : ''),
  );
  const [b, a] = [...results.values()];
  if (a && b) console.log(`replay speed-up after / before: ${(a.replay / b.replay).toFixed(2)}x`);

  await admin.deleteTopics({ topics: [before, after, paced] }).catch(() => undefined);
  await admin.disconnect();
}

/**
 * The replay at start of `topic` against kcat, in rounds that take turns (kcat, one thread, fold
 * threads), so that a machine's slower minute weighs on all three alike; medians of the rounds.
 */
function atStartRounds(brokers: readonly string[], topic: string, label: string, judged: string): void {
  const { threads } = DEFAULT_FOLD_THREADS;
  const rounds: Array<{ raw: number | undefined; one: RangedResult; many: RangedResult }> = [];
  for (let round = 1; round <= AT_START_ROUNDS; round++) {
    const raw = rawRead(brokers, topic)?.rate;
    const [one, many] = [rangedReplayInFreshProcess(topic, 1), rangedReplayInFreshProcess(topic, threads)];
    rounds.push({ raw, one, many });
    console.log(
      `${label}: at start, round ${round}: kcat ${raw === undefined ? 'n/a' : Math.round(raw)} records/s; one thread ${Math.round(one.rate)} (${one.seconds.toFixed(2)} s); ` +
        `${threads} threads ${Math.round(many.rate)} (${many.seconds.toFixed(2)} s)`,
    );
  }
  const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const raws = rounds.flatMap((r) => (r.raw === undefined ? [] : [r.raw]));
  const medianRaw = raws.length > 0 ? median(raws) : undefined;
  for (const [how, rates] of [
    ['folded on its thread', rounds.map((r) => r.one.rate)],
    [`folded on ${threads} threads (fold threads: each reads and folds its partitions, ledgers moved back)`, rounds.map((r) => r.many.rate)],
  ] as const) {
    const rate = median(rates);
    console.log(
      `${label}: replay at start (readRanges, ${how}, a fresh Node process running the build), median of ${rounds.length}: ${Math.round(rate)} records/s` +
        (medianRaw ? `; kcat's median ${Math.round(medianRaw)}; replay / raw = ${((rate / medianRaw) * 100).toFixed(0)} % (${judged})` : ''),
    );
  }
}

interface WrittenLog {
  readonly events: number;
  readonly chainedBytes: number;
  readonly jsonBytes: number;
}

/**
 * Writes `events` to `topics.chained` as the lease does (version-1 records, chained, a signed
 * checkpoint every 10,000, transactions of TRANSACTION events) and, given `topics.json`, the same
 * events there as JSON records, as lease versions before the chain wrote them.
 */
async function writeLog(producer: Producer, signer: SigningKey, events: Iterable<LeaseEvent>, topics: { readonly chained: string; readonly json?: string }): Promise<WrittenLog> {
  const pending: LeaseEvent[][] = Array.from({ length: PARTITIONS }, () => []);
  const positions: ChainPosition[] = Array.from({ length: PARTITIONS }, (_, p) => initialChainPosition(p));
  const written = { events: 0, chainedBytes: 0, jsonBytes: 0 };
  const flush = async (partition: number): Promise<void> => {
    const batch = pending[partition] ?? [];
    if (batch.length === 0) return;
    pending[partition] = [];
    const position = positions[partition] ?? initialChainPosition(partition);
    const at = batch[batch.length - 1]?.metadata.at ?? 0;
    const chained = chainRecords(partition, position, batch, checkpointDue(position, batch.length, at, DEFAULT_CHECKPOINT_POLICY) ? { signer, at } : undefined);
    positions[partition] = chained.end;
    written.chainedBytes += chained.records.reduce((sum, m) => sum + m.value.length, 0);
    await producer.send({ topic: topics.chained, acks: 1, messages: chained.records.map((m) => ({ key: m.key, value: m.value, partition })) });
    if (topics.json) {
      const json = batch.map((event) => ({ key: event.data.agreementId, value: serializeLeaseEvent(event), partition }));
      written.jsonBytes += json.reduce((sum, m) => sum + m.value.length, 0);
      await producer.send({ topic: topics.json, acks: 1, messages: json });
    }
    written.events += batch.length;
  };
  for (const event of events) {
    const partition = partitionOf(event);
    const batch = pending[partition];
    batch?.push(event);
    if ((batch?.length ?? 0) >= TRANSACTION) await flush(partition);
  }
  for (let p = 0; p < PARTITIONS; p++) await flush(p);
  return written;
}

/**
 * Reads a whole topic from the beginning as the lease's log reader does (its subscription options,
 * lease-processor.ts), handing each batch to `handle`; times it to the last record.
 */
async function timedRead(brokers: readonly string[], topic: string, handle: (messages: readonly ReceivedMessage[]) => void): Promise<{ records: number; seconds: number; rate: number }> {
  const bus = new KafkaJsMessageBus({ clientId: `bench-replay-${randomUUID().slice(0, 6)}`, brokers, logger: silent });
  const ends = await bus.partitionRanges(topic);
  const total = ends.reduce((sum, r) => sum + Number(BigInt(r.end) - BigInt(r.start)), 0);
  let read = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  const started = process.hrtime.bigint();
  const subscription = await bus.subscribe({
    groupId: `bench-replay-${randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    commit: 'none',
    maxWaitMs: 100,
    minBytes: 256 * 1024,
    onMessages: async (messages) => {
      handle(messages);
      read += messages.length;
      if (read >= total) done();
    },
  });
  await all;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await subscription.stop();
  await bus.close();
  return { records: read, seconds, rate: read / seconds };
}

/** Records/s of one MessageBus.readRanges of the whole topic, handing batches to no one. */
async function timedReadRanges(brokers: readonly string[], topic: string, rangeReader: 'lean' | 'kafkajs'): Promise<number> {
  const bus = new KafkaJsMessageBus({ clientId: `bench-replay-${rangeReader}`, brokers, logger: silent, rangeReader });
  try {
    const ranges = await bus.partitionRanges(topic);
    let read = 0;
    const started = process.hrtime.bigint();
    await bus.readRanges({ topic, ranges, onMessages: (messages) => void (read += messages.length) });
    return read / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    await bus.close();
  }
}

/** Where the lease service's build keeps the libraries (`npm run build`). */
const LEASE_LIBS = join(__dirname, '..', '..', 'dist', 'apps', 'lease', 'libs');

/**
 * A lease instance without snapshots at start (partition-states.ts), as plain JavaScript over the
 * lease service's build: MessageBus.readRanges folding each batch on this thread as it comes and,
 * with THREADS > 1, fold threads taking their share of the partitions (fold-threads.ts). Prints
 * {records, seconds, rate}.
 */
const AT_START_REPLAY = `
const { foldRanges, PartitionLedger } = require(process.env.LEASE_LIBS + '/lease/ledger/src');
const { KafkaJsMessageBus } = require(process.env.LEASE_LIBS + '/platform/kafka/src');
const quiet = { error() {}, warn() {}, info() {}, debug() {} };
(async () => {
  const [brokers, topic, threads] = [process.env.KAFKA_BROKERS.split(','), process.env.TOPIC, Number(process.env.THREADS)];
  const bus = new KafkaJsMessageBus({ clientId: 'bench-replay-at-start', brokers, logger: quiet });
  const ranges = await bus.partitionRanges(topic);
  const ledgers = new Map(ranges.map((range) => [range.partition, new PartitionLedger(range.partition)]));
  let records = 0;
  const started = process.hrtime.bigint();
  const folded = await foldRanges({
    config: { bus: { clientId: 'bench-replay-fold', brokers }, threads, minRecords: 0 }, topic, ranges, movable: () => true, logger: quiet,
    readHere: (here) => bus.readRanges({ topic, ranges: here, onMessages: (messages) => { records += ledgers.get(messages[0].partition).applyBatchFromLog(messages); } }),
  });
  for (const { applied } of folded.values()) records += applied;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ records, seconds, rate: records / seconds }));
  await bus.close();
  process.exit(0);
})().catch((error) => { console.error(error); process.exit(1); });
`;

interface RangedResult {
  readonly records: number;
  readonly seconds: number;
  readonly rate: number;
}

/** AT_START_REPLAY in a plain Node process of its own, as a starting lease instance runs. */
function rangedReplayInFreshProcess(topic: string, threads: number): RangedResult {
  if (!existsSync(join(LEASE_LIBS, 'lease', 'ledger', 'src', 'index.js'))) throw new Error('the replay at start runs the lease service\'s build: run `npm run build` first');
  const env = { ...process.env, LEASE_LIBS, TOPIC: topic, THREADS: String(threads) };
  const child = spawnSync(process.execPath, ['-e', AT_START_REPLAY], { encoding: 'utf8', env, cwd: join(__dirname, '..', '..'), maxBuffer: 1 << 20 });
  const line = child.stdout.trim().split('\n').pop() ?? '';
  if (child.status !== 0 || !line.startsWith('{')) throw new Error(`the replay process failed (exit ${child.status}): ${child.stderr.trim()}`);
  return JSON.parse(line) as RangedResult;
}

function rawRead(brokers: readonly string[], topic: string): { records: number; seconds: number; rate: number } | undefined {
  const kcat = spawnSync('sh', ['-c', 'command -v kcat'], { encoding: 'utf8' }).stdout.trim();
  if (!kcat) return undefined;
  const started = process.hrtime.bigint();
  const out = execFileSync('sh', ['-c', `${kcat} -C -q -b ${brokers[0] ?? ''} -t ${topic} -o beginning -e -f '%o\\n' | wc -l`], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const records = Number(out.trim());
  return { records, seconds, rate: records / seconds };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
