import {
  AgreementId,
  AgreementState,
  decide,
  decideKey,
  EpochMs,
  evolve,
  evolveKey,
  FollowUp,
  followUpsOf,
  GatewayKey,
  initialKeyState,
  initialState,
  isKeyCommand,
  isKeyEvent,
  KeyReservationState,
  LedgerCommand,
  LedgerEvent,
  LeaseOutcome,
  outcomeOf,
  REQUEST_MEMORY_MS,
  RequestId,
  requestTimeProblem,
} from '@license-ledger/lease-domain';
import { ChainPosition, ChainTracker, initialChainPosition } from './chain-position';
import { DecisionMemory, DecisionRecords, RememberedDecisions } from './decision-memory';
import { decodeLedgerRecord, isLedgerEvent } from './records';

/**
 * How long a request id's outcome is remembered to answer retries and replays: twice the request
 * time window the ledger itself enforces (see request-time.ts in the domain).
 */
export const DEDUP_WINDOW_MS = REQUEST_MEMORY_MS;

/** One command's decision, as the partition's owner acts on it. */
export interface Decision {
  readonly events: readonly LedgerEvent[];
  readonly outcome: LeaseOutcome;
  /** Decided before: answered from memory, nothing new decided. */
  readonly duplicate: boolean;
  /**
   * Commands for other streams, written with the events. A duplicate gets again the one that
   * carries its answer, so a retry is answered by the step that decided it.
   */
  readonly followUps: readonly FollowUp[];
}

/**
 * Everything a PartitionLedger holds, as a snapshot stores it (snapshot-codec.ts). Exported by
 * `exportState` (sharing the ledger's maps: encode it before anything else applies) and turned back
 * into a ledger, the same as after folding the log up to `nextOffset`, by `PartitionLedger.restore`.
 */
export interface PartitionLedgerState extends RememberedDecisions {
  readonly partition: number;
  readonly nextOffset: bigint;
  readonly latestAt: EpochMs;
  readonly agreements: ReadonlyMap<AgreementId, AgreementState>;
  readonly keys: ReadonlyMap<GatewayKey, KeyReservationState>;
  /** Where the partition's hash chain stands after the record before `nextOffset`. */
  readonly chain: ChainPosition;
}

/** A record of the log as a batch brings it: its offset (exact below 2^53 as a number) and value as written. */
export interface LogRecord {
  readonly offset: string | number;
  readonly value: Buffer;
}

/**
 * The folded state of one partition of the event topic: every agreement and gateway key whose
 * stream is keyed to it, the offset of the next record to apply, and recent outcomes by request id.
 * Applying is idempotent by offset, so the owner (applying its own writes) and the state reader
 * (applying the log) never double.
 */
export class PartitionLedger {
  /** Offset of the next record to apply; every record below it is already in the state. */
  nextOffset = 0n;
  /**
   * Set while this instance owns and writes the partition: its state is ahead of the log's reader.
   * The processor keeps it in step with the partition's ownership state (isAheadOfLog).
   */
  ownerWriting = false;
  readonly agreements = new Map<AgreementId, AgreementState>();
  readonly keys = new Map<GatewayKey, KeyReservationState>();
  /** Recent decisions by request id, to answer a repeated request with its first outcome. */
  private decisions = new DecisionMemory(DEDUP_WINDOW_MS);
  /** The latest event time applied: this partition's clock never goes back from it. */
  private latestAt = 0;
  /** The partition's hash chain up to `nextOffset` (up to the last record linked, while an owner writes). */
  readonly chain: ChainTracker;

  constructor(readonly partition: number) {
    this.chain = new ChainTracker(initialChainPosition(partition));
  }

  /**
   * A ledger in the state `state` describes (a snapshot's), applying the log from its `nextOffset`
   * on; with `decisions`, those are its remembered decisions and the state's own are ignored.
   */
  static restore(state: PartitionLedgerState, decisions?: DecisionRecords): PartitionLedger {
    const ledger = new PartitionLedger(state.partition);
    ledger.nextOffset = state.nextOffset;
    ledger.latestAt = state.latestAt;
    for (const [id, agreement] of state.agreements) ledger.agreements.set(id, agreement);
    for (const [key, reservation] of state.keys) ledger.keys.set(key, reservation);
    ledger.decisions = decisions ? DecisionMemory.fromRecords(DEDUP_WINDOW_MS, decisions) : DecisionMemory.restore(DEDUP_WINDOW_MS, state);
    ledger.chain.moveTo(state.chain);
    return ledger;
  }

  /** This ledger's whole state, sharing its maps (see PartitionLedgerState). */
  exportState(): PartitionLedgerState {
    return { ...this.stateWithoutDecisions(), ...this.decisions.export() };
  }

  /**
   * The state with the remembered decisions as their log records, which costs no decoding (a fold
   * handing its result to another thread); undefined when a decision was not read from the log.
   */
  exportWithDecisionRecords(): { readonly state: PartitionLedgerState; readonly decisions: DecisionRecords } | undefined {
    const decisions = this.decisions.exportRecords();
    return decisions && { state: this.stateWithoutDecisions(), decisions };
  }

  private stateWithoutDecisions(): PartitionLedgerState {
    return {
      partition: this.partition,
      nextOffset: this.nextOffset,
      latestAt: this.latestAt,
      agreements: this.agreements,
      keys: this.keys,
      outcomes: new Map(),
      decidedOrder: [],
      lastDecision: undefined,
      chain: this.chain.position(),
    };
  }

  agreement(agreementId: AgreementId): AgreementState {
    return this.agreements.get(agreementId) ?? initialState(agreementId);
  }

  key(key: GatewayKey): KeyReservationState {
    return this.keys.get(key) ?? initialKeyState(key);
  }

  /**
   * Applies the record read from the log at `offset` (its value as written), following the chain;
   * false when it was already applied. Throws for a record that cannot be read (a broken log).
   */
  applyFromLog(offset: bigint, value: Buffer): boolean {
    if (offset < this.nextOffset) return false;
    this.applyRecord(value);
    this.nextOffset = offset + 1n;
    return true;
  }

  /**
   * `applyFromLog` for a batch of one partition's records in offset order, without a BigInt per
   * record; returns how many were applied. On a record that cannot be read it throws with every
   * record before it applied (and `nextOffset` at it), as record by record.
   */
  applyBatchFromLog(records: readonly LogRecord[]): number {
    const last = records[records.length - 1];
    if (last === undefined) return 0;
    if (!(Number(last.offset) <= Number.MAX_SAFE_INTEGER)) {
      let applied = 0;
      for (const record of records) if (this.applyFromLog(BigInt(record.offset), record.value)) applied++;
      return applied;
    }
    const from = this.nextOffset;
    // Below 2^53 from here on: nothing at or beyond the batch's last offset needs comparing exactly.
    let next = from > BigInt(last.offset) ? Number.MAX_SAFE_INTEGER : Number(from);
    let applied = 0;
    try {
      for (const record of records) {
        const offset = Number(record.offset);
        if (offset < next) continue;
        this.applyRecord(record.value);
        next = offset + 1;
        applied++;
      }
    } finally {
      if (applied > 0) this.nextOffset = BigInt(next);
    }
    return applied;
  }

  private applyRecord(value: Buffer): void {
    const record = decodeLedgerRecord(value);
    this.chain.follow(value);
    if (isLedgerEvent(record)) this.applyEvent(record, value);
  }

  /**
   * Decides a command against the current state and applies the resulting events at once, so the
   * next command of the same batch sees them. The caller must write them to the log (and then call
   * `writtenUpTo`) or discard this ledger.
   *
   * Time is this partition's: never before its latest event, even under a clock that is behind
   * (another owner's), so what is remembered and what is refused as too old agree on every owner.
   */
  decideAndApply(command: LedgerCommand, now: EpochMs): Decision {
    const earlier = this.decisions.earlier(command.metadata.requestId);
    if (earlier) {
      const followUps = earlier.forward ? [{ command: earlier.forward, carriesAnswer: true }] : [];
      return { events: [], outcome: earlier.outcome, duplicate: true, followUps };
    }
    const at = Math.max(now, this.latestAt);
    // Beyond the window an earlier decision of this request id may be forgotten: refuse, and record
    // nothing (a second record of the id would itself be a second decision).
    const tooOld = requestTimeProblem(command.metadata, at);
    if (tooOld !== undefined) return { events: [], outcome: { kind: 'denied', reason: 'invalid_command', message: tooOld }, duplicate: false, followUps: [] };
    const events: LedgerEvent[] = isKeyCommand(command)
      ? decideKey(command, this.key(command.data.key), at)
      : decide(command, this.agreement(command.data.agreementId), at);
    this.applyEvents(events);
    return { events, outcome: outcomeOf(events), duplicate: false, followUps: followUpsOf(events) };
  }

  /** The owner wrote records up to (excluding) `offset`: the reader will skip them. */
  writtenUpTo(offset: bigint): void {
    if (offset > this.nextOffset) this.nextOffset = offset;
  }

  outcomeOf(requestId: RequestId): LeaseOutcome | undefined {
    return this.decisions.earlier(requestId)?.outcome;
  }

  private applyEvents(events: readonly LedgerEvent[]): void {
    for (const event of events) this.applyEvent(event);
  }

  /** Applies `event`; `source` is the log record it was read from, when it was. */
  private applyEvent(event: LedgerEvent, source?: Buffer): void {
    if (isKeyEvent(event)) this.keys.set(event.data.key, evolveKey(this.key(event.data.key), event));
    else this.agreements.set(event.data.agreementId, evolve(this.agreement(event.data.agreementId), event));
    if (event.metadata.at > this.latestAt) this.latestAt = event.metadata.at;
    // One decision's events are consecutive in the log; its outcome is that of all of them.
    this.decisions.record(event, this.latestAt, source);
  }
}
