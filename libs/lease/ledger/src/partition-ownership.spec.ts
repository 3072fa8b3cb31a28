import {
  claiming,
  FENCED_RECLAIM_MS,
  holdsPartition,
  isAheadOfLog,
  nextOwnershipState,
  OwnershipEvent,
  OwnershipState,
  ownerOf,
  RECLAIM_INITIAL_MS,
  RECLAIM_MAX_MS,
  reclaimDelayMs,
} from './partition-ownership';

/** Stands for the partition's writer: the state machine only carries it. */
interface Writer {
  readonly name: string;
}

type State = OwnershipState<Writer>;
type Event = OwnershipEvent<Writer>;

const writer: Writer = { name: 'writer' };
const lateWriter: Writer = { name: 'late' };
const claimError = new Error('claim failed');
const writeError = new Error('write failed');

const states: Record<string, State> = {
  claiming: claiming<Writer>(),
  owning: { phase: 'owning', writer },
  'revoked while claiming': { phase: 'revoked', writer: undefined },
  'revoked while owning': { phase: 'revoked', writer },
  'failed to claim': { phase: 'failed', stage: 'claim', error: claimError },
  'failed to write': { phase: 'failed', stage: 'write', error: writeError },
  released: { phase: 'released' },
};

const events: Record<string, Event> = {
  claimed: { type: 'claimed', writer: lateWriter },
  claimFailed: { type: 'claimFailed', error: claimError },
  writeFailed: { type: 'writeFailed', error: writeError },
  revoked: { type: 'revoked' },
  released: { type: 'released' },
};

function state(name: string): State {
  const found = states[name];
  if (!found) throw new Error(`no state ${name}`);
  return found;
}

/** Every transition that changes the state; every other (state, event) pair leaves it as it is. */
const changes: ReadonlyArray<readonly [from: string, event: string, to: State]> = [
  ['claiming', 'claimed', { phase: 'owning', writer: lateWriter }],
  ['claiming', 'claimFailed', { phase: 'failed', stage: 'claim', error: claimError }],
  ['claiming', 'revoked', { phase: 'revoked', writer: undefined }],
  ['owning', 'writeFailed', { phase: 'failed', stage: 'write', error: writeError }],
  ['owning', 'revoked', { phase: 'revoked', writer }],
  ['revoked while claiming', 'writeFailed', { phase: 'failed', stage: 'write', error: writeError }],
  ['revoked while claiming', 'released', { phase: 'released' }],
  ['revoked while owning', 'writeFailed', { phase: 'failed', stage: 'write', error: writeError }],
  ['revoked while owning', 'released', { phase: 'released' }],
  ['failed to claim', 'released', { phase: 'released' }],
  ['failed to write', 'released', { phase: 'released' }],
];

describe('partition ownership', () => {
  it.each(changes)('%s --%s--> changes as expected', (from, event, to) => {
    expect(nextOwnershipState(state(from), events[event] as Event)).toEqual(to);
  });

  const unchanged = Object.keys(states).flatMap((from) =>
    Object.keys(events)
      .filter((event) => !changes.some(([f, e]) => f === from && e === event))
      .map((event) => [from, event] as const),
  );

  it.each(unchanged)('%s ignores %s (the very same state comes back)', (from, event) => {
    const before = state(from);
    expect(nextOwnershipState(before, events[event] as Event)).toBe(before);
  });

  it('covers every pair of state and event between the two tables', () => {
    expect(changes.length + unchanged.length).toBe(Object.keys(states).length * Object.keys(events).length);
  });

  it('keeps the writer it owned with through a revoke, and a claim that completes after the revoke gets none', () => {
    const owning = nextOwnershipState(claiming<Writer>(), { type: 'claimed', writer });
    const revoked = nextOwnershipState(owning, { type: 'revoked' });
    expect(revoked).toEqual({ phase: 'revoked', writer });

    const revokedFirst = nextOwnershipState(claiming<Writer>(), { type: 'revoked' });
    expect(nextOwnershipState(revokedFirst, { type: 'claimed', writer: lateWriter })).toEqual({ phase: 'revoked', writer: undefined });
  });

  it('lets only an owner decide: the writer is reachable in owning alone', () => {
    expect(Object.entries(states).filter(([, s]) => ownerOf(s) !== undefined).map(([name]) => name)).toEqual(['owning']);
    expect(ownerOf(state('owning'))).toBe(writer);
  });

  it('is ahead of the log while owning, and while revoked until released if it owned', () => {
    expect(Object.entries(states).filter(([, s]) => isAheadOfLog(s)).map(([name]) => name)).toEqual(['owning', 'revoked while owning']);
  });

  it('holds the partition while claiming, owning, or assigned but not claimable', () => {
    expect(Object.entries(states).filter(([, s]) => holdsPartition(s)).map(([name]) => name)).toEqual(['claiming', 'owning', 'failed to claim']);
  });

  it('follows the life of a generation whose last write fails while it is revoked', () => {
    const path: Event[] = [{ type: 'claimed', writer }, { type: 'revoked' }, { type: 'writeFailed', error: writeError }, { type: 'released' }];
    const phases = path.reduce<State[]>((seen, event) => [...seen, nextOwnershipState(seen[seen.length - 1] ?? claiming<Writer>(), event)], [claiming<Writer>()]);
    expect(phases.map((s) => s.phase)).toEqual(['claiming', 'owning', 'revoked', 'failed', 'released']);
    expect(phases.map(isAheadOfLog)).toEqual([false, true, true, false, false]);
  });
});

describe('the pause before claiming a failed partition again', () => {
  it('claims again at once after a failed write, and backs off exponentially after failed claims, up to a cap', () => {
    expect([0, 1, 2, 3, 10, 60].map((failures) => reclaimDelayMs(failures, false))).toEqual([
      0,
      RECLAIM_INITIAL_MS,
      RECLAIM_INITIAL_MS * 2,
      RECLAIM_INITIAL_MS * 4,
      RECLAIM_MAX_MS,
      RECLAIM_MAX_MS,
    ]);
  });

  it('after a fencing, leaves a rebalance that moves the partition time to arrive first', () => {
    expect(reclaimDelayMs(0, true)).toBe(FENCED_RECLAIM_MS);
    expect(reclaimDelayMs(60, true)).toBe(RECLAIM_MAX_MS);
  });
});
