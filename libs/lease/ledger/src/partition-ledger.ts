import {
  AgreementId,
  AgreementState,
  decide,
  EpochMs,
  evolve,
  initialState,
  LeaseCommand,
  LeaseEvent,
  LeaseOutcome,
  outcomeOf,
  RequestId,
} from '@license-ledger/lease-domain';
import type { LedgerRecord } from './records';

/** How long a request id's outcome is remembered to answer retries (the ingress's replay window). */
export const DEDUP_WINDOW_MS = 5 * 60_000;

/**
 * The folded state of one partition of the event topic: every agreement keyed to it, the offset
 * of the next record to apply, and recent outcomes by request id. Applying is idempotent by offset,
 * so the owner (applying its own writes) and the state reader (applying the log) never double.
 */
export class PartitionLedger {
  /** Offset of the next record to apply; every record below it is already in the state. */
  nextOffset = 0n;
  /** Set while this instance owns and writes the partition: its state is ahead of the log's reader. */
  ownerWriting = false;
  readonly agreements = new Map<AgreementId, AgreementState>();
  private readonly outcomes = new Map<RequestId, { readonly at: EpochMs; readonly outcome: LeaseOutcome }>();
  private latestAt = 0;
  private lastDecision: { readonly requestId: RequestId; readonly events: LeaseEvent[] } | undefined;
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
   */
  decideAndApply(command: LeaseCommand, now: EpochMs): { readonly events: readonly LeaseEvent[]; readonly outcome: LeaseOutcome; readonly duplicate: boolean } {
    const earlier = this.outcomes.get(command.metadata.requestId);
    if (earlier) return { events: [], outcome: earlier.outcome, duplicate: true };
    const events = decide(command, this.agreement(command.data.agreementId), now);
    this.applyEvents(events);
    return { events, outcome: outcomeOf(events), duplicate: false };
  }

  /** The owner wrote records up to (excluding) `offset`: the reader will skip them. */
  writtenUpTo(offset: bigint): void {
    if (offset > this.nextOffset) this.nextOffset = offset;
  }

  outcomeOf(requestId: RequestId): LeaseOutcome | undefined {
    return this.outcomes.get(requestId)?.outcome;
  }

  private applyEvents(events: readonly LeaseEvent[]): void {
    for (const event of events) this.applyEvent(event);
  }

  private applyEvent(event: LeaseEvent): void {
    const agreementId = event.data.agreementId;
    this.agreements.set(agreementId, evolve(this.agreement(agreementId), event));
    if (event.metadata.at > this.latestAt) this.latestAt = event.metadata.at;
    // One decision's events are consecutive in the log; its outcome is that of all of them.
    const requestId = event.metadata.requestId;
    if (this.lastDecision?.requestId === requestId) this.lastDecision.events.push(event);
    else {
      this.lastDecision = { requestId, events: [event] };
      this.decidedOrder.push(requestId);
    }
    this.outcomes.set(requestId, { at: this.latestAt, outcome: outcomeOf(this.lastDecision.events) });
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
