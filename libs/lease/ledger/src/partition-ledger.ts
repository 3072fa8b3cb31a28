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
import type { LedgerRecord } from './records';

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

interface Remembered {
  readonly at: EpochMs;
  readonly outcome: LeaseOutcome;
  /** The follow-up that carries the answer on, when the decision did not answer itself. */
  readonly forward: LedgerCommand | undefined;
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
  private readonly outcomes = new Map<RequestId, Remembered>();
  /** The latest event time applied: this partition's clock never goes back from it. */
  private latestAt = 0;
  private lastDecision: { readonly requestId: RequestId; readonly events: LedgerEvent[]; forward: LedgerCommand | undefined } | undefined;
  /**
   * Request ids in the order they were decided, to forget them when they leave the window. A
   * separate queue because iterating a Map from its start after many deletions walks over every
   * deleted slot (V8 keeps them until it rehashes), which made eviction quadratic.
   */
  private readonly decidedOrder: RequestId[] = [];
  private decidedHead = 0;

  constructor(readonly partition: number) {}

  agreement(agreementId: AgreementId): AgreementState {
    return this.agreements.get(agreementId) ?? initialState(agreementId);
  }

  key(key: GatewayKey): KeyReservationState {
    return this.keys.get(key) ?? initialKeyState(key);
  }

  /** Applies a record read from the log at `offset`; false when it was already applied. */
  applyFromLog(offset: bigint, record: LedgerRecord): boolean {
    if (offset < this.nextOffset) return false;
    if (record.type !== 'PartitionClaimed') this.applyEvents([record]);
    this.nextOffset = offset + 1n;
    return true;
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
    const earlier = this.outcomes.get(command.metadata.requestId);
    if (earlier) return { events: [], outcome: earlier.outcome, duplicate: true, followUps: earlier.forward ? [{ command: earlier.forward, carriesAnswer: true }] : [] };
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
    return this.outcomes.get(requestId)?.outcome;
  }

  private applyEvents(events: readonly LedgerEvent[]): void {
    for (const event of events) this.applyEvent(event);
  }

  private applyEvent(event: LedgerEvent): void {
    if (isKeyEvent(event)) this.keys.set(event.data.key, evolveKey(this.key(event.data.key), event));
    else this.agreements.set(event.data.agreementId, evolve(this.agreement(event.data.agreementId), event));
    if (event.metadata.at > this.latestAt) this.latestAt = event.metadata.at;
    // One decision's events are consecutive in the log; its outcome is that of all of them.
    const requestId = event.metadata.requestId;
    if (this.lastDecision?.requestId === requestId) this.lastDecision.events.push(event);
    else {
      this.lastDecision = { requestId, events: [event], forward: undefined };
      this.decidedOrder.push(requestId);
    }
    // Rebuilt from the log as well, so a new owner passes a repeated step on as the first owner did.
    const forward = followUpsOf([event]).find((followUp) => followUp.carriesAnswer);
    if (forward) this.lastDecision.forward = forward.command;
    this.outcomes.set(requestId, { at: this.latestAt, outcome: outcomeOf(this.lastDecision.events), forward: this.lastDecision.forward });
    this.forgetOldOutcomes();
  }

  private forgetOldOutcomes(): void {
    const horizon = this.latestAt - DEDUP_WINDOW_MS;
    while (this.decidedHead < this.decidedOrder.length) {
      const requestId = this.decidedOrder[this.decidedHead] as RequestId;
      const entry = this.outcomes.get(requestId);
      if (entry && entry.at >= horizon) break;
      this.outcomes.delete(requestId);
      this.decidedHead++;
    }
    // Drop the consumed front of the queue now and then, not on every eviction.
    if (this.decidedHead > 65_536 && this.decidedHead * 2 > this.decidedOrder.length) {
      this.decidedOrder.splice(0, this.decidedHead);
      this.decidedHead = 0;
    }
  }
}
