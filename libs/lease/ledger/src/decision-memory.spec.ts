import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { LedgerEvent, LeaseOutcome, outcomeOf } from '@license-ledger/lease-domain';
import { initialChainPosition } from './chain-position';
import { chainRecords } from './chain-writer';
import { DecisionMemory } from './decision-memory';

const T0 = Date.UTC(2026, 0, 1);
const WINDOW = 60_000;
const key = Buffer.alloc(32, 1).toString('base64');
const hash = (n: number): string => n.toString(16).padStart(64, '0');

function granted(requestId: string, at: number, n: number): LedgerEvent {
  return {
    type: 'LockGranted',
    data: { agreementId: 'a1', configHash: hash(n), holder: { key, hostname: 'gw', processId: n, sessionId: `s${n}` }, expiresAt: at + 3_600_000 },
    metadata: { requestId, at },
  } as LedgerEvent;
}

function expired(requestId: string, at: number, n: number): LedgerEvent {
  return { type: 'LockExpired', data: { agreementId: 'a1', configHash: hash(n), expiredAt: at }, metadata: { requestId, at } } as LedgerEvent;
}

function bindRequested(requestId: string, at: number): LedgerEvent {
  return { type: 'KeyBindRequested', data: { agreementId: 'a1', key }, metadata: { requestId, at } } as LedgerEvent;
}

function bound(requestId: string, at: number): LedgerEvent {
  return { type: 'KeyBound', data: { agreementId: 'a1', key }, metadata: { requestId, at } } as LedgerEvent;
}

/** The events as the log holds them (binary, chained), each beside its record. */
function withRecords(events: readonly LedgerEvent[]): Array<{ event: LedgerEvent; record: Buffer }> {
  const { records } = chainRecords(0, initialChainPosition(0), events, undefined);
  return events.map((event, n) => ({ event, record: (records[n] as { value: Buffer }).value }));
}

/**
 * A log with single and multi-event decisions, a request id decided twice (a bind's two steps, with
 * decisions between them) and time moving on past the window.
 */
function log(): LedgerEvent[] {
  const events: LedgerEvent[] = [];
  let at = T0;
  for (let n = 0; n < 40; n++) {
    at += 2_000 + (n % 3) * 1_500;
    if (n === 5) events.push(bindRequested('bind', at));
    else if (n === 9) events.push(bound('bind', at));
    else if (n % 7 === 0) events.push(expired(`r${n}`, at, n + 100), granted(`r${n}`, at, n + 100));
    else events.push(granted(`r${n}`, at, n));
  }
  return events;
}

const requestIds = (events: readonly LedgerEvent[]): string[] => [...new Set(events.map((e) => e.metadata.requestId))];

/**
 * What the memory must answer after `applied`: the latest decision of the id whose own time (that of
 * its last event) is inside the window of the latest time.
 */
function expected(applied: readonly LedgerEvent[], requestId: string): LeaseOutcome | undefined {
  const decisions: Array<{ requestId: string; events: LedgerEvent[] }> = [];
  for (const event of applied) {
    const last = decisions[decisions.length - 1];
    if (last?.requestId === event.metadata.requestId) last.events.push(event);
    else decisions.push({ requestId: event.metadata.requestId, events: [event] });
  }
  const latestAt = Math.max(...applied.map((e) => e.metadata.at));
  const mine = decisions.filter((d) => d.requestId === requestId);
  const latest = mine[mine.length - 1];
  if (!latest) return undefined;
  const at = latest.events[latest.events.length - 1]?.metadata.at ?? 0;
  return at >= latestAt - WINDOW ? outcomeOf(latest.events) : undefined;
}

describe('DecisionMemory', () => {
  const events = log();
  const ids = requestIds(events);

  it.each([
    ['asked from the start (an owner)', 0],
    ['first asked midway (a claim after a fold)', 17],
    ['first asked at the end', events.length],
  ])('answers each request id with its latest decision inside the window, %s; from records or events alike', (_label, askFrom) => {
    const fromLog = new DecisionMemory(WINDOW);
    const fromOwner = new DecisionMemory(WINDOW);
    withRecords(events).forEach(({ event, record }, n) => {
      fromLog.record(event, event.metadata.at, record);
      fromOwner.record(event, event.metadata.at);
      if (n + 1 < askFrom) return;
      const applied = events.slice(0, n + 1);
      for (const id of ids) {
        expect([id, fromLog.earlier(id)?.outcome]).toEqual([id, expected(applied, id)]);
        expect([id, fromOwner.earlier(id)?.outcome]).toEqual([id, expected(applied, id)]);
      }
    });
    expect(fromLog.export()).toEqual(fromOwner.export());
  });

  it('forgets a decision on time even when its request id is decided again later, and keeps that later one', () => {
    const memory = new DecisionMemory(WINDOW);
    const at = (s: number): number => T0 + s * 1_000;
    for (const event of [bindRequested('bind', at(0)), granted('r1', at(10), 1), bound('bind', at(50)), granted('r2', at(65), 2), granted('r3', at(75), 3)]) {
      memory.record(event, event.metadata.at);
    }
    // 75 s: r1 (10 s) is out of the 60 s window though the bind's first step (0 s) came before it.
    expect(memory.earlier('r1')).toBeUndefined();
    expect(memory.earlier('bind')?.outcome).toEqual({ kind: 'accepted' });
    expect(memory.export().decidedOrder).toEqual(['bind', 'r2', 'r3']);
  });

  it('comes back from its snapshot with the same answers, and the same snapshot after more decisions', () => {
    const [head, tail] = [events.slice(0, 25), events.slice(25)];
    const whole = new DecisionMemory(WINDOW);
    const first = new DecisionMemory(WINDOW);
    for (const { event, record } of withRecords(head)) {
      whole.record(event, event.metadata.at, record);
      first.record(event, event.metadata.at, record);
    }
    const restored = DecisionMemory.restore(WINDOW, first.export());
    expect(restored.export()).toEqual(first.export());
    for (const { event, record } of withRecords(tail)) {
      whole.record(event, event.metadata.at, record);
      restored.record(event, event.metadata.at, record);
    }
    for (const id of ids) expect([id, restored.earlier(id)]).toEqual([id, whole.earlier(id)]);
    expect(restored.export()).toEqual(whole.export());
  });

  it('continues the last decision a snapshot holds: its answer becomes that of all its events', () => {
    const memory = new DecisionMemory(WINDOW);
    memory.record(expired('r', T0, 1), T0);
    const restored = DecisionMemory.restore(WINDOW, memory.export());
    restored.record(granted('r', T0, 1), T0);
    expect(restored.earlier('r')?.outcome).toMatchObject({ kind: 'granted', renewed: false });
  });

  it('moves as its log records wherever they are cut: the same answers and export, and the next record continues its decision', () => {
    const records = withRecords(events);
    for (let cut = 1; cut < records.length; cut++) {
      const whole = new DecisionMemory(WINDOW);
      const first = new DecisionMemory(WINDOW);
      for (const { event, record } of records.slice(0, cut)) {
        whole.record(event, event.metadata.at, record);
        first.record(event, event.metadata.at, record);
      }
      const exported = first.exportRecords();
      if (!exported) throw new Error('a memory folded from records has its record form');
      // As another thread receives it: copies, nothing shared with the memory that sent it.
      const moved = DecisionMemory.fromRecords(WINDOW, structuredClone(exported));
      expect(moved.export()).toEqual(first.export());
      for (const { event, record } of records.slice(cut)) {
        whole.record(event, event.metadata.at, record);
        moved.record(event, event.metadata.at, record);
      }
      for (const id of ids) expect([cut, id, moved.earlier(id)]).toEqual([cut, id, whole.earlier(id)]);
      expect(moved.export()).toEqual(whole.export());
    }
  });

  it('has no record form while it remembers a decision not read from the log, and refuses arrays that do not fit', () => {
    const memory = new DecisionMemory(WINDOW);
    const [{ event, record }] = withRecords([granted('r1', T0, 1)]) as [{ event: LedgerEvent; record: Buffer }];
    memory.record(event, T0, record);
    const exported = memory.exportRecords();
    expect(exported?.recordCounts).toEqual(new Int32Array([1]));
    memory.record(granted('r2', T0, 2), T0);
    expect(memory.exportRecords()).toBeUndefined();
    if (!exported) throw new Error('unreachable');
    expect(() => DecisionMemory.fromRecords(WINDOW, { ...exported, times: new Float64Array(2) })).toThrow(RangeError);
    expect(() => DecisionMemory.fromRecords(WINDOW, { ...exported, recordEnds: new Float64Array([exported.bytes.length + 1]) })).toThrow(RangeError);
  });

  it('lets go of a record as soon as its decision leaves the window, not when the queue is next trimmed', async () => {
    // A real collection (flags set at run time reach only code compiled after, here the `gc` of a new context).
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const memory = new DecisionMemory(WINDOW);
    // Each record in a buffer of its own (as if each came in a fetch answer of its own), watched weakly.
    const watched = withRecords(Array.from({ length: 20 }, (_, n) => granted(`w${n}`, T0 + n * 10_000, n))).map(({ event, record }) => {
      const own = Buffer.from(record);
      memory.record(event, event.metadata.at, own);
      return { at: event.metadata.at, ref: new WeakRef(own) };
    });
    const latest = T0 + 19 * 10_000;
    await new Promise((resolve) => setImmediate(resolve)); // weak references hold until the job that made them ends
    collect();
    const inWindow = watched.filter((w) => w.at >= latest - WINDOW);
    const forgotten = watched.filter((w) => w.at < latest - WINDOW);
    expect(forgotten.length).toBeGreaterThan(10);
    expect(forgotten.filter((w) => w.ref.deref() !== undefined).map((w) => w.at - T0)).toEqual([]);
    expect(inWindow.every((w) => w.ref.deref() !== undefined)).toBe(true);
  });
});
