/**
 * The history bench-startup.ts starts from: a ledger log of N events over the same live locks,
 * decided by the real decider and written as the lease service writes them (version-1 records,
 * chained per partition, on the partition of the agreement's commands), but fast: no transactions,
 * acks=1, batches of 10,000, the next batch decided while one is sent.
 *
 * Agreements of 100 locks each are opened, a key bound to each, every lock granted, then the locks
 * are renewed round-robin until N events. Event times advance 18 ms an event (the renewal rate of
 * 100,000 locks renewed every 30 minutes) and end now, so the last 12 minutes hold as many request
 * ids as a ledger in service would, whatever N is; locks run 7 days, so all are live at the end.
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel, Partitioners, Producer } from 'kafkajs';
import { AgreementState, decide, evolve, initialState, LeaseCommand, LedgerEvent, streamOfEvent } from '@license-ledger/lease-domain';
import { chainHash, encodeEventRecord, genesisHash } from '@license-ledger/lease-ledger';

const LOCKS_PER_AGREEMENT = 100;
const EVENT_SPACING_MS = 18;
const LOCK_PERIOD_MS = 7 * 24 * 3_600_000;
const BATCH = 10_000;
/** One request in flight while the next batch is made: more could reorder a partition on a retry. */
const IN_FLIGHT = 1;

export interface HistoryWritten {
  readonly events: number;
  readonly bytes: number;
  readonly seconds: number;
}

const keyOf = (agreement: number): string => {
  const bytes = Buffer.alloc(32, 5);
  bytes.writeUInt32BE(agreement);
  return bytes.toString('base64');
};

/** The events, in decision order, with the time each was decided at. */
function* history(total: number, locks: number): Generator<LedgerEvent> {
  const agreements = Math.ceil(locks / LOCKS_PER_AGREEMENT);
  const states = new Map<string, AgreementState>();
  let now = Date.now() - total * EVENT_SPACING_MS;
  let produced = 0;
  const run = function* (command: LeaseCommand): Generator<LedgerEvent> {
    const id = command.data.agreementId;
    const state = states.get(id) ?? initialState(id);
    for (const event of decide(command, state, now)) {
      states.set(id, evolve(state, event));
      produced++;
      now += EVENT_SPACING_MS;
      yield event;
    }
  };
  const lock = (n: number): LeaseCommand => {
    const a = Math.floor(n / LOCKS_PER_AGREEMENT) % agreements;
    const l = n % LOCKS_PER_AGREEMENT;
    return {
      type: 'AcquireLock',
      data: {
        agreementId: `startup-${a}`,
        configHash: l.toString(16).padStart(64, '0'),
        holder: { key: keyOf(a), hostname: `gateway-${a}-${l}`, processId: 1_000 + l, sessionId: randomUUID() },
        requestedPeriodMs: LOCK_PERIOD_MS,
      },
      metadata: { requestId: randomUUID() },
    };
  };
  const sessions = new Map<number, LeaseCommand>();
  for (let a = 0; a < agreements; a++) {
    const agreementId = `startup-${a}`;
    yield* run({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: LOCKS_PER_AGREEMENT }, metadata: { requestId: randomUUID() } });
    yield* run({ type: 'BindReservedKey', data: { agreementId, key: keyOf(a) }, metadata: { requestId: randomUUID() } });
  }
  for (let n = 0; n < locks; n++) {
    const grant = lock(n);
    sessions.set(n, grant);
    yield* run(grant);
  }
  // Renewals by the same holders (same session), round-robin, until the total.
  for (let n = 0; produced < total; n = (n + 1) % locks) {
    const grant = sessions.get(n);
    if (grant?.type !== 'AcquireLock') throw new Error('no grant to renew');
    yield* run({ ...grant, metadata: { requestId: randomUUID() } });
  }
}

/** Writes `total` events over `locks` live locks to `topic` (partitions as the ledger's commands topic's). */
export async function writeHistory(brokers: readonly string[], topic: string, partitions: number, total: number, locks: number, progress: (line: string) => void): Promise<HistoryWritten> {
  const kafka = new Kafka({ clientId: 'bench-startup-filler', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const producer: Producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  const partitioner = Partitioners.DefaultPartitioner();
  const metadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0, offlineReplicas: [] }));
  const partitionOfKey = new Map<string, number>();
  const heads = Array.from({ length: partitions }, (_, p) => genesisHash(p));
  const started = Date.now();
  let written = 0;
  let bytes = 0;
  let batch: Array<{ key: string; value: Buffer; partition: number; headers: Record<string, string> }> = [];
  const inFlight = new Set<Promise<unknown>>();
  const send = async (messages: typeof batch): Promise<void> => {
    while (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    const sending = producer.send({ topic, acks: 1, messages }).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  };
  for (const event of history(total, locks)) {
    const key = streamOfEvent(event);
    let partition = partitionOfKey.get(key);
    if (partition === undefined) {
      partition = partitioner({ topic, partitionMetadata: metadata, message: { key, value: null } });
      partitionOfKey.set(key, partition);
    }
    const value = encodeEventRecord(event, heads[partition] as Buffer);
    heads[partition] = chainHash(heads[partition] as Buffer, value);
    bytes += value.length;
    batch.push({ key, value, partition, headers: { type: event.type } });
    if (batch.length === BATCH) {
      await send(batch);
      written += batch.length;
      batch = [];
      if (written % 1_000_000 === 0) progress(`  ${written.toLocaleString('en')} events written, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }
  if (batch.length > 0) await send(batch);
  written += batch.length;
  await Promise.all(inFlight);
  await producer.disconnect();
  return { events: written, bytes, seconds: (Date.now() - started) / 1000 };
}
