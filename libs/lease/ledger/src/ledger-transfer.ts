import type { DecisionRecords } from './decision-memory';
import { PartitionLedger } from './partition-ledger';
import { decodeSnapshotBody, encodeSnapshotBody } from './snapshot-codec';

/**
 * A PartitionLedger as one thread hands it to another (fold-threads.ts): buffers only, each moved
 * rather than copied. The state goes as a snapshot body without remembered decisions, the decisions
 * as the log records they were read from; both cost what the live state and the dedup window hold,
 * not what the log held.
 */
export interface TransferredLedger {
  readonly partition: number;
  /** Records the ledger applied from the log. */
  readonly applied: number;
  readonly body: Uint8Array;
  readonly decisions: DecisionRecords;
}

export function transferOf(ledger: PartitionLedger, applied: number): TransferredLedger {
  const exported = ledger.exportWithDecisionRecords();
  // A fold only reads the log, so every decision it remembers is a record of it.
  if (!exported) throw new Error(`partition ${ledger.partition}: a decision not read from the log cannot go to another thread`);
  return { partition: ledger.partition, applied, body: ownBuffer(encodeSnapshotBody(exported.state)), decisions: exported.decisions };
}

export function ledgerOf(transferred: TransferredLedger): PartitionLedger {
  const { body } = transferred;
  const state = decodeSnapshotBody(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  if (state.partition !== transferred.partition) throw new RangeError(`a transferred ledger of partition ${state.partition} sent as ${transferred.partition}`);
  return PartitionLedger.restore(state, transferred.decisions);
}

/** The buffers to move with `ledgers` (postMessage's transfer list). */
export function transferListOf(ledgers: readonly TransferredLedger[]): ArrayBuffer[] {
  return ledgers.flatMap(({ body, decisions }) =>
    [body, decisions.bytes, decisions.recordEnds, decisions.recordCounts, decisions.times].map((view) => view.buffer as ArrayBuffer),
  );
}

/** A copy with a buffer of its own: a small Buffer may be a slice of Node's shared pool, which must not be moved. */
function ownBuffer(bytes: Uint8Array): Uint8Array {
  const own = new Uint8Array(bytes.byteLength);
  own.set(bytes);
  return own;
}
