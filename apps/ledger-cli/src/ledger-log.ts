import {
  AgreementState,
  EpochMs,
  evolve,
  initialState,
  InvariantViolation,
  isKeyEvent,
  LedgerEvent,
  LeaseInvariantChecker,
} from '@license-ledger/lease-domain';
import { decodeLedgerRecord, LedgerRecord } from '@license-ledger/lease-ledger';
import { MessageBus } from '@license-ledger/platform-kafka';

/** One record of the events topic, decoded, or the reason it could not be. */
export type LogEntry =
  | { readonly partition: number; readonly offset: bigint; readonly timestampMs: number; readonly record: LedgerRecord }
  | { readonly partition: number; readonly offset: bigint; readonly timestampMs: number; readonly malformed: string };

export interface ReadProgress {
  readonly read: bigint;
  readonly total: bigint;
}

export interface ReadLogOptions {
  /** Start at the first record written at or after this time (Kafka record time) instead of the beginning. */
  readonly sinceMs?: number;
  readonly onProgress?: (progress: ReadProgress) => void;
}

/**
 * Streams the events topic from its beginning (or `sinceMs`) to its end as of the call. Records of
 * one partition arrive in log order, which is each agreement's order; partitions interleave.
 */
export async function readLedgerLog(bus: MessageBus, topic: string, options: ReadLogOptions, onEntry: (entry: LogEntry) => void): Promise<{ readonly partitions: number; readonly records: number }> {
  const ranges = await bus.partitionRanges(topic, options.sinceMs);
  const total = ranges.reduce((sum, r) => sum + (BigInt(r.end) - BigInt(r.start)), 0n);
  const positions = new Map(ranges.map((r) => [r.partition, BigInt(r.start)]));
  const starts = new Map(ranges.map((r) => [r.partition, BigInt(r.start)]));
  let records = 0;
  options.onProgress?.({ read: 0n, total });
  await bus.readRanges({
    topic,
    ranges,
    onMessages: (messages) => {
      for (const message of messages) {
        records++;
        const position = { partition: message.partition, offset: BigInt(message.offset), timestampMs: message.timestampMs };
        try {
          onEntry({ ...position, record: decodeLedgerRecord(message.value) });
        } catch (error) {
          onEntry({ ...position, malformed: error instanceof Error ? error.message : String(error) });
        }
      }
    },
    onPosition: (partition, nextOffset) => {
      positions.set(partition, BigInt(nextOffset));
      let read = 0n;
      for (const [p, at] of positions) read += at - (starts.get(p) ?? 0n);
      options.onProgress?.({ read, total });
    },
  });
  return { partitions: ranges.length, records };
}

export function isEvent(record: LedgerRecord): record is LedgerEvent {
  return record.type !== 'PartitionClaimed';
}

/**
 * The fold of the log: every agreement's state after the events applied so far. The key streams'
 * events (reservations) are not part of any agreement's state and are passed over.
 */
export class LedgerFold {
  readonly states = new Map<string, AgreementState>();

  apply(event: LedgerEvent): void {
    if (isKeyEvent(event)) return;
    const id = event.data.agreementId;
    this.states.set(id, evolve(this.states.get(id) ?? initialState(id), event));
  }

  /** Agreements that exist (opened at some point), sorted by id. */
  agreements(): AgreementState[] {
    return [...this.states.values()].filter((s) => s.status !== 'unopened').sort((a, b) => a.agreementId.localeCompare(b.agreementId));
  }
}

/** Fold of the events decided at or before `asOfMs` (all of them without it). */
export class AsOfFold extends LedgerFold {
  constructor(private readonly asOfMs: EpochMs | undefined) {
    super();
  }

  override apply(event: LedgerEvent): void {
    if (this.asOfMs === undefined || event.metadata.at <= this.asOfMs) super.apply(event);
  }
}

export interface LogProblem {
  readonly partition: number;
  readonly offset: bigint;
  readonly message: string;
}

/**
 * What `verify` checks while the log streams by: every record readable, and the domain's invariants
 * (licenses never exceeded, no renewal of a dead lock, times in order per agreement, each request
 * decided once, ...). Also folds the log for the projection comparison.
 */
export class LogVerifier {
  readonly fold = new LedgerFold();
  readonly problems: LogProblem[] = [];
  readonly eventsPerPartition = new Map<number, { count: number; maxOffset: bigint }>();
  private readonly checker = new LeaseInvariantChecker();
  /** Where each KeyBound is, by its index in the checked sequence: end-of-log findings point at one. */
  private readonly bindings = new Map<number, { readonly partition: number; readonly offset: bigint }>();
  private checked = 0;

  observe(entry: LogEntry): void {
    if ('malformed' in entry) {
      this.problems.push({ partition: entry.partition, offset: entry.offset, message: `unreadable record: ${entry.malformed}` });
      return;
    }
    if (!isEvent(entry.record)) return;
    const seen = this.eventsPerPartition.get(entry.partition) ?? { count: 0, maxOffset: -1n };
    seen.count++;
    if (entry.offset > seen.maxOffset) seen.maxOffset = entry.offset;
    this.eventsPerPartition.set(entry.partition, seen);
    if (entry.record.type === 'KeyBound') this.bindings.set(this.checked, { partition: entry.partition, offset: entry.offset });
    this.checked++;
    for (const violation of this.checker.observe(entry.record)) {
      this.problems.push({ partition: entry.partition, offset: entry.offset, message: describeViolation(violation) });
    }
    this.fold.apply(entry.record);
  }

  /** Once the whole log is read: what only the whole log shows (a key bound to two open agreements). */
  finish(): void {
    for (const violation of this.checker.endOfLog()) {
      const at = this.bindings.get(violation.index) ?? { partition: -1, offset: -1n };
      this.problems.push({ ...at, message: describeViolation(violation) });
    }
  }
}

function describeViolation(violation: InvariantViolation): string {
  return `${violation.rule}: agreement "${violation.agreementId}", request ${violation.requestId}: ${violation.message}`;
}
