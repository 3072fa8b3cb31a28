import { LedgerCommand, LedgerEvent, LeaseOutcome, outcomeOf, RequestId } from '@license-ledger/lease-domain';

/** A decided request id's answer, remembered for the dedup window (see PartitionLedger). */
export interface RememberedOutcome {
  readonly at: number;
  readonly outcome: LeaseOutcome;
  /** The follow-up that carries the answer on, when the decision did not answer itself. */
  readonly forward: LedgerCommand | undefined;
}

/** How a decision's answer is kept: the common ones in fields, the rare ones as outcome objects. */
const Answer = { none: 0, granted: 1, renewed: 2, released: 3, object: 4 } as const;
type Answer = (typeof Answer)[keyof typeof Answer];
const FREED = 1;
const KEPT_UNTIL = 2;
const FORWARD = 4;
/** Restored from a snapshot's order without an outcome: it only marks its place in the order. */
const PLACE_ONLY = 8;

const INITIAL_CAPACITY = 1_024;

/**
 * The recent decisions of a partition by request id, in the order they were decided, to answer a
 * retry or a replayed request with its first outcome. A replay remembers every decision of the
 * window (hundreds of thousands), so this keeps them compactly: a ring of columns indexed by a
 * decision's sequence number, the request id mapping to that number (a small integer, no object).
 * Grants, renewals and releases (nearly all answers) are kept as their few fields and turned into
 * a LeaseOutcome only when asked (`outcomeOf`); the rare answers keep their outcome object.
 *
 * The index by request id is built when first asked (a command to decide, a snapshot): a replay,
 * and every instance's reader of partitions it does not own, never ask, and hashing every request
 * id into a map was a large part of their cost. Once built it is kept up to date.
 *
 * Forgetting goes by the order decided: the oldest decision goes once it is past the horizon (with
 * the index, once the entry its request id maps to is: a request id decided twice, which no owner
 * writes within the window since it answers the repeat from memory, stays until its newest is).
 */
export class RememberedDecisions {
  private seqOf: Map<RequestId, number> | undefined;
  private mask = INITIAL_CAPACITY - 1;
  private requestIds: Array<RequestId | undefined> = emptySlots(INITIAL_CAPACITY);
  private at = new Float64Array(INITIAL_CAPACITY);
  private answers = new Uint8Array(INITIAL_CAPACITY);
  private flags = new Uint8Array(INITIAL_CAPACITY);
  /** expiresAt of a grant or renewal; keptUntil of a release. */
  private times = new Float64Array(INITIAL_CAPACITY);
  private configHashes: Array<string | undefined> = emptySlots(INITIAL_CAPACITY);
  /** By sequence number: rare answers, and follow-ups that carry an answer on. */
  private readonly outcomeObjects = new Map<number, LeaseOutcome>();
  private readonly forwards = new Map<number, LedgerCommand>();
  /** Sequence number of the oldest decision kept, and of the next one. */
  private head = 0;
  private next = 0;
  /** The sequence number in slot 0 when the ring was last laid out (it grew). */
  private base = 0;

  /** A new decision of `requestId` (its events follow through `answer`). */
  begin(requestId: RequestId, at: number): void {
    if (this.next - this.head > this.mask) this.grow();
    const seq = this.next++;
    const slot = this.slotOf(seq);
    this.requestIds[slot] = requestId;
    this.at[slot] = at;
    this.answers[slot] = Answer.none;
    this.flags[slot] = 0;
    this.configHashes[slot] = undefined;
    this.seqOf?.set(requestId, seq);
  }

  /** The latest decision's next event, at the partition's time `at`: the first that speaks to the request is its answer. */
  answer(event: LedgerEvent, at: number): void {
    const slot = this.slotOf(this.next - 1);
    this.at[slot] = at;
    if (this.answers[slot] !== Answer.none) return;
    switch (event.type) {
      case 'LockGranted':
      case 'LockRenewed':
        this.answers[slot] = event.type === 'LockGranted' ? Answer.granted : Answer.renewed;
        this.configHashes[slot] = event.data.configHash;
        this.times[slot] = event.data.expiresAt;
        return;
      case 'LockReleased':
        this.answers[slot] = Answer.released;
        this.configHashes[slot] = event.data.configHash;
        if (event.data.freed) this.addFlag(slot, FREED);
        if (event.data.keptUntil !== undefined) {
          this.addFlag(slot, KEPT_UNTIL);
          this.times[slot] = event.data.keptUntil;
        }
        return;
      case 'RequestDenied':
      case 'KeyReservationRefused':
      case 'SupportLockIssued':
      case 'LockForceReleased':
        this.answers[slot] = Answer.object;
        this.outcomeObjects.set(this.next - 1, outcomeOf([event]));
        return;
      default:
        return;
    }
  }

  /** The latest decision's answer is carried on by `command` (a follow-up on another stream). */
  forwardLatest(command: LedgerCommand): void {
    const slot = this.slotOf(this.next - 1);
    this.addFlag(slot, FORWARD);
    this.forwards.set(this.next - 1, command);
  }

  latestRequestId(): RequestId | undefined {
    return this.next > this.head ? this.requestIds[this.slotOf(this.next - 1)] : undefined;
  }

  /** The latest decision's follow-up that carries its answer, if any. */
  latestForward(): LedgerCommand | undefined {
    return this.next > this.head ? this.forwardAt(this.next - 1) : undefined;
  }

  outcomeOf(requestId: RequestId): LeaseOutcome | undefined {
    const seq = this.index().get(requestId);
    return seq === undefined ? undefined : this.outcomeAt(seq);
  }

  forwardOf(requestId: RequestId): LedgerCommand | undefined {
    const seq = this.index().get(requestId);
    return seq === undefined ? undefined : this.forwardAt(seq);
  }

  /** Forgets decisions from the oldest on while they (their request id's entry) are older than `horizon`. */
  forgetBefore(horizon: number): void {
    const index = this.seqOf;
    while (this.head < this.next) {
      const slot = this.slotOf(this.head);
      if (index) {
        const requestId = this.requestIds[slot] as RequestId;
        const current = index.get(requestId);
        if (current !== undefined && (this.at[this.slotOf(current)] ?? 0) >= horizon) break;
        index.delete(requestId);
      } else if ((this.at[slot] ?? 0) >= horizon) break;
      this.release(this.head);
      this.head++;
    }
  }

  /** Every remembered request id with its answer (built now). */
  entries(): Map<RequestId, RememberedOutcome> {
    const entries = new Map<RequestId, RememberedOutcome>();
    for (const [requestId, seq] of this.seqOf ?? this.buildIndex()) {
      entries.set(requestId, { at: this.at[this.slotOf(seq)] ?? 0, outcome: this.outcomeAt(seq), forward: this.forwardAt(seq) });
    }
    return entries;
  }

  private index(): Map<RequestId, number> {
    if (!this.seqOf) this.seqOf = this.buildIndex();
    return this.seqOf;
  }

  /** Each request id of the window to its latest decision, in the order decided. */
  private buildIndex(): Map<RequestId, number> {
    const index = new Map<RequestId, number>();
    for (let seq = this.head; seq < this.next; seq++) {
      const slot = this.slotOf(seq);
      if (((this.flags[slot] ?? 0) & PLACE_ONLY) === 0) index.set(this.requestIds[slot] as RequestId, seq);
    }
    return index;
  }

  /** Request ids in the order they were decided, oldest first (repeats included). */
  order(): RequestId[] {
    const order: RequestId[] = [];
    for (let seq = this.head; seq < this.next; seq++) order.push(this.requestIds[this.slotOf(seq)] as RequestId);
    return order;
  }

  /** Takes up what `entries` and `order` described (a snapshot's); call it on a fresh instance. */
  restore(entries: ReadonlyMap<RequestId, RememberedOutcome>, order: readonly RequestId[]): void {
    const last = new Map<RequestId, number>();
    order.forEach((requestId, index) => last.set(requestId, index));
    order.forEach((requestId, index) => {
      const remembered = entries.get(requestId);
      this.begin(requestId, remembered?.at ?? Number.NEGATIVE_INFINITY);
      if (remembered) this.store(this.next - 1, remembered);
      // Only its latest place in the order is the remembered decision.
      if (!remembered || last.get(requestId) !== index) this.addFlag(this.slotOf(this.next - 1), PLACE_ONLY);
    });
    for (const [requestId, remembered] of entries) {
      // Remembered but in no order (not written by this code): kept, as the newest.
      if (last.has(requestId)) continue;
      this.begin(requestId, remembered.at);
      this.store(this.next - 1, remembered);
    }
  }

  private store(seq: number, remembered: RememberedOutcome): void {
    const slot = this.slotOf(seq);
    const { outcome } = remembered;
    if (outcome.kind === 'granted' && outcome.overdraft === undefined) {
      this.answers[slot] = outcome.renewed ? Answer.renewed : Answer.granted;
      this.configHashes[slot] = outcome.configHash;
      this.times[slot] = outcome.expiresAt;
    } else if (outcome.kind === 'released') {
      this.answers[slot] = Answer.released;
      this.configHashes[slot] = outcome.configHash;
      if (outcome.freed) this.addFlag(slot, FREED);
      if (outcome.keptUntil !== undefined) {
        this.addFlag(slot, KEPT_UNTIL);
        this.times[slot] = outcome.keptUntil;
      }
    } else if (outcome.kind !== 'accepted') {
      this.answers[slot] = Answer.object;
      this.outcomeObjects.set(seq, outcome);
    }
    if (remembered.forward) {
      this.addFlag(slot, FORWARD);
      this.forwards.set(seq, remembered.forward);
    }
  }

  private addFlag(slot: number, flag: number): void {
    this.flags[slot] = (this.flags[slot] ?? 0) | flag;
  }

  private outcomeAt(seq: number): LeaseOutcome {
    const slot = this.slotOf(seq);
    const answer = this.answers[slot] as Answer;
    switch (answer) {
      case Answer.none:
        return { kind: 'accepted' };
      case Answer.granted:
      case Answer.renewed:
        return { kind: 'granted', configHash: this.configHashes[slot] as string, expiresAt: this.times[slot] as number, renewed: answer === Answer.renewed };
      case Answer.released: {
        const flags = this.flags[slot] as number;
        const configHash = this.configHashes[slot] as string;
        const freed = (flags & FREED) !== 0;
        return (flags & KEPT_UNTIL) !== 0 ? { kind: 'released', configHash, freed, keptUntil: this.times[slot] as number } : { kind: 'released', configHash, freed };
      }
      case Answer.object:
        return this.outcomeObjects.get(seq) ?? { kind: 'accepted' };
      default:
        return unexpected(answer);
    }
  }

  private forwardAt(seq: number): LedgerCommand | undefined {
    return ((this.flags[this.slotOf(seq)] as number) & FORWARD) !== 0 ? this.forwards.get(seq) : undefined;
  }

  private release(seq: number): void {
    const slot = this.slotOf(seq);
    if (this.answers[slot] === Answer.object) this.outcomeObjects.delete(seq);
    if (((this.flags[slot] as number) & FORWARD) !== 0) this.forwards.delete(seq);
    this.requestIds[slot] = undefined;
    this.configHashes[slot] = undefined;
  }

  private slotOf(seq: number): number {
    return (seq - this.base) & this.mask;
  }

  /**
   * Doubles the ring once it is full, the decisions laid out anew from slot 0 in the order decided:
   * a few native copies (loops over hundreds of thousands of slots are slow until optimised).
   */
  private grow(): void {
    const capacity = this.mask + 1;
    const from = this.slotOf(this.head);
    const inOrder = <T>(slots: T[]): T[] => {
      const ordered = slots.slice(from).concat(slots.slice(0, from));
      return ordered.concat(ordered).fill(undefined as T, capacity);
    };
    const twice = <T extends Float64Array | Uint8Array>(column: T, empty: T): T => {
      empty.set(column.subarray(from), 0);
      empty.set(column.subarray(0, from), capacity - from);
      return empty;
    };
    this.requestIds = inOrder(this.requestIds);
    this.configHashes = inOrder(this.configHashes);
    this.at = twice(this.at, new Float64Array(capacity * 2));
    this.times = twice(this.times, new Float64Array(capacity * 2));
    this.answers = twice(this.answers, new Uint8Array(capacity * 2));
    this.flags = twice(this.flags, new Uint8Array(capacity * 2));
    this.mask = capacity * 2 - 1;
    this.base = this.head;
  }
}

/**
 * An array of `length` empty slots, built by pushing: `new Array(length)` beyond some 100,000
 * elements makes a dictionary-mode array in V8, where every access is a hash lookup.
 */
function emptySlots<T>(length: number): Array<T | undefined> {
  const slots: Array<T | undefined> = [];
  for (let i = 0; i < length; i++) slots.push(undefined);
  return slots;
}

function unexpected(value: never): never {
  throw new Error(`unexpected answer ${String(value)}`);
}
