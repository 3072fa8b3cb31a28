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
import { ChainVerifier, decodeLedgerRecord, isLedgerEvent, LedgerRecord } from '@license-ledger/lease-ledger';
import { MessageBus } from '@license-ledger/platform-kafka';

interface LogPosition {
  readonly partition: number;
  readonly offset: bigint;
  readonly timestampMs: number;
  /** The record's value as written (what the hash chain covers). */
  readonly value: Buffer;
}

/** One record of the events topic, decoded, or the reason it could not be. */
export type LogEntry = (LogPosition & { readonly record: LedgerRecord }) | (LogPosition & { readonly malformed: string });

export interface ReadProgress {
  readonly read: bigint;
  readonly total: bigint;
}

export interface ReadLogOptions {
  /** Start at the first record written at or after this time (Kafka record time) instead of the beginning. */
  readonly sinceMs?: number;
  readonly onProgress?: (progress: ReadProgress) => void;
  /** Before any record: where each partition's reading starts. */
  readonly onStart?: (partition: number, from: bigint) => void;
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
  for (const [partition, start] of starts) options.onStart?.(partition, start);
  let records = 0;
  options.onProgress?.({ read: 0n, total });
  await bus.readRanges({
    topic,
    ranges,
    onMessages: (messages) => {
      for (const message of messages) {
        records++;
        const position = { partition: message.partition, offset: BigInt(message.offset), timestampMs: message.timestampMs, value: message.value };
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
  return isLedgerEvent(record);
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
 * What `verify` checks while the log streams by: every partition's hash chain and checkpoint
 * signatures (docs/ledger-integrity.md), every record readable, and the domain's invariants
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
  readonly chains: ChainVerifier;

  constructor(trustedKeys: readonly Uint8Array[] = []) {
    this.chains = new ChainVerifier({ trustedKeys });
  }

  /** Where `partition` is read from (readLedgerLog's onStart). */
  begin = (partition: number, from: bigint): void => this.chains.begin(partition, from);

  observe(entry: LogEntry): void {
    this.chains.observe(entry.partition, entry.offset, entry.value);
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
    // Chain breaks first: the first of them is where the log stops being the one the ledger wrote.
    this.problems.unshift(...this.chains.problems);
    for (const violation of this.checker.endOfLog()) {
      const at = this.bindings.get(violation.index) ?? { partition: -1, offset: -1n };
      this.problems.push({ ...at, message: describeViolation(violation) });
    }
  }
}

function describeViolation(violation: InvariantViolation): string {
  return `${violation.rule}: agreement "${violation.agreementId}", request ${violation.requestId}: ${violation.message}`;
}
