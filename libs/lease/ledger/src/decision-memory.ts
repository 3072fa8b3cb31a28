import { EpochMs, followUpsOf, LedgerCommand, LedgerEvent, LeaseOutcome, outcomeOf, RequestId } from '@license-ledger/lease-domain';
import { decodeLedgerRecord, isLedgerEvent } from './records';

/** A decided request id's answer, remembered for the dedup window. */
export interface RememberedOutcome {
  readonly at: EpochMs;
  readonly outcome: LeaseOutcome;
  /** The follow-up that carries the answer on, when the decision did not answer itself. */
  readonly forward: LedgerCommand | undefined;
}

/** The decision whose events were applied last: a next event with its request id belongs to it. */
export interface LastDecision {
  readonly requestId: RequestId;
  readonly events: readonly LedgerEvent[];
  readonly forward: LedgerCommand | undefined;
}

/** What a snapshot keeps of the memory (snapshot-codec.ts). */
export interface RememberedDecisions {
  readonly outcomes: ReadonlyMap<RequestId, RememberedOutcome>;
  /** Request ids still in the window, in the order they were decided (their forgetting order). */
  readonly decidedOrder: readonly RequestId[];
  readonly lastDecision: LastDecision | undefined;
}

/**
 * The memory as the log records its decisions were read from, in flat arrays another thread takes
 * over without a copy (fold-threads.ts): nothing is decoded to make it or to read it back, unlike
 * the outcomes a snapshot keeps. Only a memory whose every decision was read from the log has it.
 */
export interface DecisionRecords {
  /** Every record, one after another, in decision order. */
  readonly bytes: Uint8Array;
  /** Where each record ends in `bytes`. */
  readonly recordEnds: Float64Array;
  /** How many consecutive records each decision spans, in forgetting order. */
  readonly recordCounts: Int32Array;
  /** Each decision's time. */
  readonly times: Float64Array;
  /** The request id of the event applied last (a next event with it continues that decision). */
  readonly lastRequestId: RequestId | undefined;
}

/** What an earlier decision of a request id answers a repeat with. */
export interface Earlier {
  readonly outcome: LeaseOutcome;
  readonly forward: LedgerCommand | undefined;
}

/** Lock events, nearly all of a log: none asks for a follow-up, so a replay need not ask (reactions.ts in the domain). */
const WITHOUT_FOLLOW_UPS: ReadonlySet<LedgerEvent['type']> = new Set(['LockGranted', 'LockRenewed', 'LockReleased', 'LockExpired']);

/** The follow-up that carries the answer of a decision with `events` on, if any (the last one wins). */
function forwardOf(events: readonly LedgerEvent[]): LedgerCommand | undefined {
  let forward: LedgerCommand | undefined;
  for (const event of events) {
    if (WITHOUT_FOLLOW_UPS.has(event.type)) continue;
    const found = followUpsOf([event]).find((followUp) => followUp.carriesAnswer);
    if (found) forward = found.command;
  }
  return forward;
}

/**
 * One decision: its events as applied and, worked out only when asked for, its outcome (or the
 * outcome a snapshot restored, when its events are not kept). `sources` are the log records its
 * events were read from, while every one of them was.
 */
class Decision {
  private outcome: LeaseOutcome | undefined;
  private forward: LedgerCommand | undefined;

  constructor(
    readonly requestId: RequestId,
    readonly events: LedgerEvent[],
    restored?: { readonly outcome: LeaseOutcome; readonly forward: LedgerCommand | undefined },
    public sources?: Buffer[],
  ) {
    this.outcome = restored?.outcome;
    this.forward = restored ? restored.forward : forwardOf(events);
  }

  /** Another event of this decision: its answer is that of all of them now. */
  add(event: LedgerEvent, source: Buffer | undefined): void {
    this.events.push(event);
    if (source && this.sources) this.sources.push(source);
    else this.sources = undefined;
    this.outcome = undefined;
    this.forward = forwardOf([event]) ?? this.forward;
  }

  answer(): Earlier {
    this.outcome ??= outcomeOf(this.events);
    return { outcome: this.outcome, forward: this.forward };
  }
}

/**
 * A queued decision: a decision, or (folded from the log and nothing asked of it yet) the one
 * record that holds it, decoded again only if it is ever asked about.
 */
type Queued = Decision | Buffer;

/** What a place before the queue's head holds: nothing, never read again. */
const FORGOTTEN: Queued = Buffer.alloc(0);

function decisionOf(queued: Queued): Decision {
  return queued instanceof Decision ? queued : decisionOfRecords([queued]);
}

/** The decision whose events are the records `sources` (one or more records of the log, in order). */
function decisionOfRecords(sources: Buffer[]): Decision {
  const events = sources.map((source) => {
    const record = decodeLedgerRecord(source);
    if (!isLedgerEvent(record)) throw new Error('a queued decision record holds no event');
    return record;
  });
  const [first] = events;
  if (!first) throw new Error('a decision without records');
  return new Decision(first.metadata.requestId, events, undefined, sources);
}

/**
 * The decisions of a partition's last `windowMs`, by request id, to answer a repeated request with
 * its first outcome. Each decision is remembered for the window from its own time (that of its last
 * event); a request id decided again (a multi-step command whose later step lands on the same
 * partition) answers with its latest decision.
 *
 * A fold of the log records every decision but is asked about none until this instance owns the
 * partition, and at a busy ledger's rate the window holds hundreds of thousands of them. So decisions
 * are queued in the order they were made (their times, kept beside them, only grow along the queue,
 * so forgetting takes them off its front), a one-record decision folded from the log as that record
 * alone, and the index by request id is built the first time one is looked up, then kept up to date.
 * Answers are the same as with an index kept from the start.
 */
export class DecisionMemory {
  private queue: Queued[] = [];
  private times: EpochMs[] = [];
  private head = 0;
  private index: Map<RequestId, Decision> | undefined;
  /** The request id of the decision applied last; a next event with its id belongs to it. */
  private lastRequestId: RequestId | undefined;

  constructor(private readonly windowMs: number) {}

  /** The memory a snapshot described. */
  static restore(windowMs: number, remembered: RememberedDecisions): DecisionMemory {
    const memory = new DecisionMemory(windowMs);
    const last = remembered.lastDecision;
    // A request id listed twice is answered by its latest decision: only its last place counts.
    const lastPlace = new Map<RequestId, number>();
    remembered.decidedOrder.forEach((requestId, place) => lastPlace.set(requestId, place));
    remembered.decidedOrder.forEach((requestId, place) => {
      const outcome = remembered.outcomes.get(requestId);
      if (!outcome || lastPlace.get(requestId) !== place) return;
      // The last decision keeps its events: one more of them makes its answer that of all of them.
      const decision =
        last?.requestId === requestId
          ? new Decision(requestId, [...last.events], { outcome: outcome.outcome, forward: last.forward })
          : new Decision(requestId, [], outcome);
      memory.queue.push(decision);
      memory.times.push(outcome.at);
    });
    memory.lastRequestId = last?.requestId;
    return memory;
  }

  /** The memory `records` describe (see DecisionRecords); throws on arrays that do not fit together. */
  static fromRecords(windowMs: number, records: DecisionRecords): DecisionMemory {
    const { recordEnds, recordCounts, times } = records;
    if (times.length !== recordCounts.length || recordCounts.reduce((sum, count) => sum + count, 0) !== recordEnds.length) {
      throw new RangeError('decision records: counts, ends and times do not fit together');
    }
    const bytes = Buffer.from(records.bytes.buffer, records.bytes.byteOffset, records.bytes.byteLength);
    const memory = new DecisionMemory(windowMs);
    let record = 0;
    let start = 0;
    const next = (): Buffer => {
      const end = recordEnds[record++] as number;
      if (!(end >= start && end <= bytes.length)) throw new RangeError('decision records: a record ends outside the bytes');
      const source = bytes.subarray(start, end);
      start = end;
      return source;
    };
    for (let place = 0; place < recordCounts.length; place++) {
      const count = recordCounts[place] as number;
      if (count < 1) throw new RangeError('decision records: a decision without records');
      if (count === 1) memory.queue.push(next());
      else memory.queue.push(decisionOfRecords(Array.from({ length: count }, next)));
      memory.times.push(times[place] as EpochMs);
    }
    memory.lastRequestId = records.lastRequestId;
    return memory;
  }

  /**
   * Records an applied event at the partition's time `at` (one decision's events come one after
   * another), with the log record it was read from, if it was.
   */
  record(event: LedgerEvent, at: EpochMs, source?: Buffer): void {
    const requestId = event.metadata.requestId;
    const tail = this.queue.length - 1;
    const continued = requestId === this.lastRequestId && tail >= this.head ? this.decisionAt(tail) : undefined;
    if (continued?.requestId === requestId) {
      continued.add(event, source);
      this.times[tail] = at;
    } else {
      const indexed = this.index;
      if (indexed || !source) {
        const decision = new Decision(requestId, [event], undefined, source && [source]);
        this.queue.push(decision);
        indexed?.set(requestId, decision);
      } else {
        this.queue.push(source);
      }
      this.times.push(at);
    }
    this.lastRequestId = requestId;
    this.forgetBefore(at - this.windowMs);
  }

  /** The answer of the request id's latest decision in the window, if any. */
  earlier(requestId: RequestId): Earlier | undefined {
    return this.indexed().get(requestId)?.answer();
  }

  /** Everything remembered, as a snapshot keeps it: each request id once, at its latest decision. */
  export(): RememberedDecisions {
    const decisions: Decision[] = [];
    const latest = new Map<RequestId, number>();
    for (let place = this.head; place < this.queue.length; place++) {
      const decision = this.decisionAt(place);
      latest.set(decision.requestId, decisions.length);
      decisions.push(decision);
    }
    const outcomes = new Map<RequestId, RememberedOutcome>();
    const decidedOrder: RequestId[] = [];
    decisions.forEach((decision, n) => {
      if (latest.get(decision.requestId) !== n) return;
      decidedOrder.push(decision.requestId);
      outcomes.set(decision.requestId, { at: this.times[this.head + n] as EpochMs, ...decision.answer() });
    });
    const lastDecision = this.lastDecisionNow();
    return { outcomes, decidedOrder, lastDecision };
  }

  /** The memory as the records of its decisions; undefined when a decision was not read from the log. */
  exportRecords(): DecisionRecords | undefined {
    const places = this.queue.length - this.head;
    const recordCounts = new Int32Array(places);
    const sources: Buffer[] = [];
    for (let place = 0; place < places; place++) {
      const queued = this.queue[this.head + place] as Queued;
      const records = queued instanceof Decision ? queued.sources : [queued];
      if (!records) return undefined;
      recordCounts[place] = records.length;
      for (const record of records) sources.push(record);
    }
    const bytes = new Uint8Array(sources.reduce((sum, source) => sum + source.length, 0));
    const recordEnds = new Float64Array(sources.length);
    let at = 0;
    sources.forEach((source, n) => {
      bytes.set(source, at);
      at += source.length;
      recordEnds[n] = at;
    });
    return { bytes, recordEnds, recordCounts, times: Float64Array.from(this.times.slice(this.head)), lastRequestId: this.lastRequestId };
  }

  private lastDecisionNow(): LastDecision | undefined {
    const requestId = this.lastRequestId;
    const tail = this.queue.length - 1;
    if (requestId === undefined || tail < this.head) return undefined;
    // The last decision is the queue's tail: its time is the partition's latest, inside the window.
    const decision = this.decisionAt(tail);
    return decision.requestId === requestId ? { requestId, events: decision.events, forward: decision.answer().forward } : undefined;
  }

  /** The decision queued at `place`, decoded from its record (and kept decoded) if need be. */
  private decisionAt(place: number): Decision {
    const queued = this.queue[place] as Queued;
    if (queued instanceof Decision) return queued;
    const decision = decisionOf(queued);
    this.queue[place] = decision;
    return decision;
  }

  private indexed(): Map<RequestId, Decision> {
    if (this.index) return this.index;
    const index = new Map<RequestId, Decision>();
    for (let place = this.head; place < this.queue.length; place++) {
      const decision = this.decisionAt(place);
      index.set(decision.requestId, decision);
    }
    this.index = index;
    return index;
  }

  private forgetBefore(horizon: EpochMs): void {
    const { queue, times, index } = this;
    while (this.head < queue.length && (times[this.head] as EpochMs) < horizon) {
      if (index) {
        const decision = queue[this.head] as Decision;
        // A request id decided again later stays, answered by that decision.
        if (index.get(decision.requestId) === decision) index.delete(decision.requestId);
      }
      // Let go of it now, not when the front is dropped: a queued record holds on to the whole
      // fetch answer it was read from, and the front may be tens of thousands of decisions long.
      queue[this.head] = FORGOTTEN;
      this.head++;
    }
    // Drop the forgotten front of the queue now and then, not on every forgetting.
    if (this.head > 65_536 && this.head * 2 > queue.length) {
      this.queue = queue.slice(this.head);
      this.times = times.slice(this.head);
      this.head = 0;
    }
  }
}
