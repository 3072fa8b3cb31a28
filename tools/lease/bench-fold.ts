/**
 * The fold of a replay, in memory: no broker, no client library, only what a lease instance does
 * with each record of the events topic once it has it (PartitionLedger.applyFromLog: decode, follow
 * the chain, evolve the domain, remember the outcome by request id).
 *
 * The ledger is decided by the real decider (1,000 agreements, one key each, 50 config hashes per
 * agreement; gateways acquire, mostly renew, and now and then release), chained as owners write it
 * (transactions of 500, a signed checkpoint every 10,000 records), spread over 6 partitions by
 * agreement as bench-replay.ts does. Printed per variant: records/s, wall and CPU µs per record; and
 * what the first lookup of a request id after the fold costs (the memory's index is built then).
 *
 *   npx tsx tools/lease/bench-fold.ts [records] [rounds]
 */
import { randomUUID } from 'node:crypto';
import { AgreementState, decide, evolve, initialState, LeaseCommand, LeaseEvent } from '@license-ledger/lease-domain';
import { ChainPosition, chainRecords, checkpointDue, DEFAULT_CHECKPOINT_POLICY, initialChainPosition, PartitionLedger } from '@license-ledger/lease-ledger';
import { SigningKey, systemRandom } from '@license-ledger/protocol-crypto';

const PARTITIONS = 6;
const AGREEMENTS = 1_000;
/** Config hashes per agreement: its gateways keep renewing these, now and then releasing one. */
const HASHES = 50;
const TRANSACTION = 500;
/** Records per batch handed to the fold, about what one Kafka fetch of a partition brings. */
const BATCH = 2_000;
/** One command in this many is a release; the rest acquire (mostly renewals of a live lock). */
const RELEASE_EVERY = 10;

interface PartitionLog {
  readonly partition: number;
  readonly values: Buffer[];
}

function keyOf(agreement: number): string {
  const bytes = Buffer.alloc(32, 2);
  bytes.writeUInt32BE(agreement);
  return bytes.toString('base64');
}

function ledgerEvents(total: number): LeaseEvent[] {
  const states = new Map<string, AgreementState>();
  const events: LeaseEvent[] = [];
  let now = Date.UTC(2026, 0, 1);
  const run = (command: LeaseCommand): void => {
    const id = command.data.agreementId;
    const state = states.get(id) ?? initialState(id);
    for (const event of decide(command, state, now)) {
      states.set(id, evolve(state, event));
      events.push(event);
    }
  };
  for (let a = 0; a < AGREEMENTS; a++) {
    const agreementId = `replay-${a}`;
    run({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: 1_000 }, metadata: { requestId: randomUUID() } });
    run({ type: 'BindReservedKey', data: { agreementId, key: keyOf(a) }, metadata: { requestId: randomUUID() } });
  }
  for (let n = 0; events.length < total; n++) {
    now += 1;
    const agreement = n % AGREEMENTS;
    const agreementId = `replay-${agreement}`;
    const round = Math.floor(n / AGREEMENTS);
    const lock = (round * 7 + agreement) % HASHES;
    const configHash = (agreement * HASHES + lock).toString(16).padStart(64, '0');
    const holder = { key: keyOf(agreement), hostname: `gateway-host-${lock}`, processId: lock, sessionId: `session-${agreement}-${lock}` };
    const metadata = { requestId: randomUUID() };
    // Spread releases over agreements and hashes alike (a multiplicative hash of n).
    if (((n * 2_654_435_761) >>> 0) % RELEASE_EVERY === 0) run({ type: 'ReleaseLock', data: { agreementId, configHash, holder }, metadata });
    else run({ type: 'AcquireLock', data: { agreementId, configHash, holder }, metadata });
  }
  return events;
}

function chainedLogs(events: readonly LeaseEvent[]): PartitionLog[] {
  const signer = SigningKey.generate(systemRandom);
  const logs: PartitionLog[] = Array.from({ length: PARTITIONS }, (_, partition) => ({ partition, values: [] }));
  const pending: LeaseEvent[][] = Array.from({ length: PARTITIONS }, () => []);
  const positions: ChainPosition[] = Array.from({ length: PARTITIONS }, (_, p) => initialChainPosition(p));
  const flush = (partition: number): void => {
    const batch = pending[partition] ?? [];
    const position = positions[partition] ?? initialChainPosition(partition);
    if (batch.length === 0) return;
    const at = batch[batch.length - 1]?.metadata.at ?? 0;
    const chained = chainRecords(partition, position, batch, checkpointDue(position, batch.length, at, DEFAULT_CHECKPOINT_POLICY) ? { signer, at } : undefined);
    positions[partition] = chained.end;
    for (const record of chained.records) logs[partition]?.values.push(record.value);
    pending[partition] = [];
  };
  for (const event of events) {
    const partition = Number(event.data.agreementId.slice('replay-'.length)) % PARTITIONS;
    const batch = pending[partition];
    batch?.push(event);
    if ((batch?.length ?? 0) >= TRANSACTION) flush(partition);
  }
  for (let p = 0; p < PARTITIONS; p++) flush(p);
  return logs;
}

/** A partition's log in fetch-sized batches, as ReceivedMessage-like records. */
function batchesOf(log: PartitionLog): Array<Array<{ offset: string; value: Buffer }>> {
  const batches: Array<Array<{ offset: string; value: Buffer }>> = [];
  for (let start = 0; start < log.values.length; start += BATCH) {
    batches.push(log.values.slice(start, start + BATCH).map((value, i) => ({ offset: String(start + i), value })));
  }
  return batches;
}

interface Timing {
  readonly seconds: number;
  readonly cpuSeconds: number;
}

async function timed(work: () => Promise<void> | void): Promise<Timing> {
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  await work();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

function report(label: string, records: number, timing: Timing): void {
  const { seconds, cpuSeconds } = timing;
  console.log(
    `${label}: ${records} records in ${seconds.toFixed(2)} s = ${Math.round(records / seconds)} records/s, ` +
      `${((seconds * 1e6) / records).toFixed(2)} µs/record wall, ${((cpuSeconds * 1e6) / records).toFixed(2)} µs/record CPU (process)`,
  );
}

async function main(): Promise<void> {
  const total = Number(process.argv[2] ?? 600_000);
  const rounds = Number(process.argv[3] ?? 3);
  const generated = Date.now();
  const logs = chainedLogs(ledgerEvents(total));
  const records = logs.reduce((sum, log) => sum + log.values.length, 0);
  const bytes = logs.reduce((sum, log) => sum + log.values.reduce((s, v) => s + v.length, 0), 0);
  console.log(`ledger: ${records} records (${(bytes / records).toFixed(0)} bytes each) on ${PARTITIONS} partitions, made in ${((Date.now() - generated) / 1000).toFixed(1)} s`);
  const batches = logs.map((log) => ({ partition: log.partition, batches: batchesOf(log) }));

  for (let round = 1; round <= rounds; round++) {
    // As the lease's log reader does it: one record at a time, its offset parsed from the message.
    const ledgers = new Map<number, PartitionLedger>();
    report(
      `round ${round} fold (one thread, applyFromLog)`,
      records,
      await timed(() => {
        for (const { partition, batches: list } of batches) {
          const ledger = new PartitionLedger(partition);
          ledgers.set(partition, ledger);
          for (const batch of list) for (const message of batch) ledger.applyFromLog(BigInt(message.offset), message.value);
        }
      }),
    );
    // The same, a batch at a time (offsets as numbers inside a batch).
    const batched: PartitionLedger[] = [];
    report(
      `round ${round} fold (one thread, applyBatchFromLog)`,
      records,
      await timed(() => {
        for (const { partition, batches: list } of batches) {
          const ledger = new PartitionLedger(partition);
          batched.push(ledger);
          for (const batch of list) ledger.applyBatchFromLog(batch);
        }
      }),
    );
    // What a new owner pays once, at its first decision: the index of the window's request ids.
    const indexed = await timed(() => {
      for (const ledger of batched) ledger.outcomeOf('not-a-request-id');
    });
    const remembered = batched.reduce((sum, ledger) => sum + ledger.exportState().decidedOrder.length, 0);
    console.log(`round ${round} first lookup after the fold (index of ${remembered} remembered decisions on ${batched.length} partitions): ${(indexed.seconds * 1000).toFixed(0)} ms`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
