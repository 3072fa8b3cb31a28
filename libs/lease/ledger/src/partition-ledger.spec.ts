import { LedgerCommand, LedgerEvent, REQUEST_TIME_WINDOW_MS } from '@license-ledger/lease-domain';
import { initialChainPosition } from './chain-position';
import { chainRecords } from './chain-writer';
import { DEDUP_WINDOW_MS, PartitionLedger } from './partition-ledger';
import { encodeJson } from './records';

const T0 = Date.UTC(2026, 0, 1);
const SECOND = 1_000;
const key = Buffer.alloc(32, 1).toString('base64');
const holder = { key, hostname: 'gw', processId: 1, sessionId: 's1' };
const hash = (n: number): string => n.toString(16).padStart(64, '0');

function cmd(type: LedgerCommand['type'], data: Record<string, unknown>, requestId: string, requestedAt?: number): LedgerCommand {
  return { type, data: { agreementId: 'a1', ...data }, metadata: { requestId, ...(requestedAt === undefined ? {} : { requestedAt }) } } as unknown as LedgerCommand;
}

/** The events as the owner writes them to partition 0's log (chained from its start). */
const linked = (events: readonly LedgerEvent[]): Buffer[] => chainRecords(0, initialChainPosition(0), events, undefined).records.map((record) => record.value);
const claimMarker = encodeJson({ type: 'PartitionClaimed', data: { partition: 0, owner: 'x', claimId: 'c' }, metadata: { at: T0 } });

/** A gateway's AcquireLock stamped with its own request time. */
const acquire = (requestId: string, n: number, requestedAt?: number): LedgerCommand => cmd('AcquireLock', { configHash: hash(n), holder }, requestId, requestedAt);

function openWithKey(ledger: PartitionLedger, licenses: number): void {
  ledger.decideAndApply(cmd('OpenAgreement', { name: 'A', licenses, bounds: { minMs: 1_000, defaultMs: 10_000, maxMs: 60_000 } }, 'open'), T0);
  // As the key's stream answers a bind (key-binding.spec.ts in the domain).
  ledger.decideAndApply(cmd('BindReservedKey', { key }, 'bind'), T0);
}

/** A ledger with an open agreement (many licenses, key bound) and the log it wrote. */
function ledgerWithLog(): { ledger: PartitionLedger; log: LedgerEvent[]; run: (command: LedgerCommand, now: number) => ReturnType<PartitionLedger['decideAndApply']> } {
  const ledger = new PartitionLedger(0);
  const log: LedgerEvent[] = [];
  const run = (command: LedgerCommand, now: number) => {
    const decided = ledger.decideAndApply(command, now);
    log.push(...decided.events);
    return decided;
  };
  run(cmd('OpenAgreement', { name: 'A', licenses: 1_000, bounds: { minMs: 1_000, defaultMs: 3_600_000, maxMs: 7_200_000 } }, 'open'), T0);
  run(cmd('BindReservedKey', { key }, 'bind'), T0);
  return { ledger, log, run };
}

describe('PartitionLedger', () => {
  it('applies a log record once, whoever applies it first (owner or reader)', () => {
    const owner = new PartitionLedger(0);
    openWithKey(owner, 1);
    const { events } = owner.decideAndApply(acquire('r1', 1), T0);
    owner.writtenUpTo(3n);

    // The reader later delivers the same records at offsets 0..2: all skipped.
    expect(linked(events).map((value) => owner.applyFromLog(2n, value))).toEqual([false]);
    expect(owner.applyFromLog(3n, claimMarker)).toBe(true);
    expect(owner.nextOffset).toBe(4n);
  });

  it('answers a repeated request id with the first outcome and decides nothing new', () => {
    const ledger = new PartitionLedger(0);
    openWithKey(ledger, 1);
    const first = ledger.decideAndApply(acquire('r1', 1), T0);
    expect(first.outcome.kind).toBe('granted');
    const again = ledger.decideAndApply(acquire('r1', 1), T0 + 5);
    expect(again).toEqual({ events: [], outcome: first.outcome, duplicate: true, followUps: [] });
  });

  it('keeps the outcome of a multi-event decision whole when folding it from the log', () => {
    const writer = new PartitionLedger(0);
    const log: LedgerEvent[] = [];
    const run = (command: LedgerCommand, now: number) => {
      const decided = writer.decideAndApply(command, now);
      log.push(...decided.events);
      return decided;
    };
    run(cmd('OpenAgreement', { name: 'A', licenses: 1, bounds: { minMs: 1_000, defaultMs: 10_000, maxMs: 60_000 } }, 'open'), T0);
    run(cmd('BindReservedKey', { key }, 'bind'), T0);
    run(acquire('r1', 1), T0);
    // The lock expired but no LockExpired was written yet: re-acquiring it expires and grants.
    const decided = run(acquire('r2', 1), T0 + 20_000);
    expect(decided.events.map((e) => e.type)).toEqual(['LockExpired', 'LockGranted']);

    const reader = new PartitionLedger(0);
    linked(log).forEach((value, offset) => reader.applyFromLog(BigInt(offset), value));
    expect(reader.outcomeOf('r2')).toEqual(decided.outcome);
    expect(reader.outcomeOf('r2')?.kind).toBe('granted');
  });

  it('forgets outcomes older than the dedup window', () => {
    const { ledger } = ledgerWithLog();
    ledger.decideAndApply(acquire('old', 1), T0);
    ledger.decideAndApply(acquire('new', 2), T0 + DEDUP_WINDOW_MS + 1);
    expect(ledger.outcomeOf('old')).toBeUndefined();
    expect(ledger.outcomeOf('new')?.kind).toBe('granted');
  });
});

describe('PartitionLedger: a request is decided once however late its replay comes (issue 12, item 4)', () => {
  it('answers a request stamped +290 s and replayed 5 min 46 s later with its first outcome', () => {
    const { ledger, log, run } = ledgerWithLog();
    const stamped = T0 + 290 * SECOND;
    const first = run(acquire('req', 1, stamped), T0);
    expect(first.outcome.kind).toBe('granted');
    // Other gateways keep the ledger's clock moving meanwhile.
    const replayAt = T0 + (5 * 60 + 46) * SECOND;
    run(acquire('other', 2, replayAt), replayAt);
    const replay = ledger.decideAndApply(acquire('req', 1, stamped), replayAt);
    expect(replay).toEqual({ events: [], outcome: first.outcome, duplicate: true, followUps: [] });
    expect(log.filter((event) => event.metadata.requestId === 'req')).toHaveLength(1);
  });

  it('refuses a request whose time is outside the window, records nothing, and decides one without a time as before', () => {
    const { ledger } = ledgerWithLog();
    for (const skew of [REQUEST_TIME_WINDOW_MS + 1, -REQUEST_TIME_WINDOW_MS - 1]) {
      const refused = ledger.decideAndApply(acquire(`skew${skew}`, 1, T0 + skew), T0);
      expect(refused).toEqual({ events: [], outcome: { kind: 'denied', reason: 'invalid_command', message: expect.stringMatching(/request time is 360 s (ahead of|behind) the ledger's clock/) }, duplicate: false, followUps: [] });
      expect(ledger.outcomeOf(`skew${skew}`)).toBeUndefined();
    }
    expect(ledger.decideAndApply(acquire('unstamped', 1), T0).outcome.kind).toBe('granted');
  });

  it('never decides a request twice: first accepted anywhere in the window, replayed at any later time', () => {
    const stamped = T0 + 10 * 60_000;
    for (let firstSkew = -REQUEST_TIME_WINDOW_MS; firstSkew <= REQUEST_TIME_WINDOW_MS; firstSkew += 45 * SECOND) {
      const { log, run } = ledgerWithLog();
      const firstAt = stamped - firstSkew;
      run(acquire('req', 1, stamped), firstAt);
      for (let later = 0; later <= 3 * REQUEST_TIME_WINDOW_MS; later += 20 * SECOND) {
        const now = firstAt + later;
        run(acquire(`tick${later}`, 2), now);
        const replay = run(acquire('req', 1, stamped), now);
        expect(replay.duplicate || replay.outcome.kind === 'denied').toBe(true);
      }
      expect(log.filter((event) => event.metadata.requestId === 'req')).toHaveLength(1);
    }
  });

  it('judges time by the partition, not by a new owner whose clock is behind', () => {
    const { log, run } = ledgerWithLog();
    const stamped = T0;
    run(acquire('req', 1, stamped), T0 - REQUEST_TIME_WINDOW_MS);
    run(acquire('later', 2), T0 + 2 * REQUEST_TIME_WINDOW_MS + SECOND);
    // The next owner rebuilds from the log; its clock is 15 minutes behind the previous one's.
    const next = new PartitionLedger(0);
    linked(log).forEach((value, offset) => next.applyFromLog(BigInt(offset), value));
    expect(next.outcomeOf('req')).toBeUndefined();
    const replay = next.decideAndApply(acquire('req', 1, stamped), T0 + 2 * REQUEST_TIME_WINDOW_MS + SECOND - 15 * 60_000);
    expect(replay.outcome).toEqual({ kind: 'denied', reason: 'invalid_command', message: expect.stringMatching(/behind the ledger's clock/) });
    expect(replay.events).toEqual([]);
  });
});

describe('PartitionLedger: key streams and steps of a bind', () => {
  const other = 'a2';

  it("decides a key's commands on the key's own state, next to agreements", () => {
    const ledger = new PartitionLedger(3);
    const reserve = (requestId: string, agreementId: string) => ledger.decideAndApply(cmd('ReserveKey', { key, agreementId }, requestId), T0);
    expect(reserve('r1>reserve', 'a1').events.map((e) => e.type)).toEqual(['KeyReserved']);
    expect(reserve('r2>reserve', other).outcome).toEqual({ kind: 'denied', reason: 'invalid_command', message: expect.stringMatching(/bound to agreement "a1"/) });
    expect(ledger.key(key).heldBy).toBe('a1');
    expect(ledger.agreements.size).toBe(0);
  });

  it('answers a repeated step that passed its answer on by passing it on again, also after a rebuild from the log', () => {
    const { ledger, log, run } = ledgerWithLog();
    const otherKey = Buffer.alloc(32, 2).toString('base64');
    const first = run(cmd('BindKey', { key: otherKey }, 'bind-2'), T0);
    expect(first.followUps).toEqual([{ command: { type: 'ReserveKey', data: { key: otherKey, agreementId: 'a1' }, metadata: { requestId: 'bind-2>reserve' } }, carriesAnswer: true }]);
    expect(ledger.decideAndApply(cmd('BindKey', { key: otherKey }, 'bind-2'), T0)).toMatchObject({ duplicate: true, events: [], followUps: first.followUps });
    const rebuilt = new PartitionLedger(0);
    linked(log).forEach((value, offset) => rebuilt.applyFromLog(BigInt(offset), value));
    expect(rebuilt.decideAndApply(cmd('BindKey', { key: otherKey }, 'bind-2'), T0)).toMatchObject({ duplicate: true, followUps: first.followUps });
  });
});

describe('PartitionLedger: a batch of the log at a time', () => {
  /** A log with grants, renewals, releases and a multi-event decision, as the owner wrote it. */
  function busyLog(): Buffer[] {
    const { run, log } = ledgerWithLog();
    for (let n = 0; n < 40; n++) run(n % 5 === 4 ? cmd('ReleaseLock', { configHash: hash(n % 7), holder }, `r${n}`) : acquire(`r${n}`, n % 7), T0 + n * SECOND);
    return linked(log);
  }

  it('comes to the same state as record by record, skipping what it has, offsets as strings or numbers', () => {
    const values = busyLog();
    const one = new PartitionLedger(0);
    values.forEach((value, offset) => one.applyFromLog(BigInt(offset + 10), value));
    const batched = new PartitionLedger(0);
    const records = values.map((value, offset) => ({ offset: String(offset + 10), value }));
    expect(batched.applyBatchFromLog(records.slice(0, 20))).toBe(20);
    // Overlapping the first batch: the records it had are skipped.
    expect(batched.applyBatchFromLog(records.slice(15).map((record) => ({ ...record, offset: Number(record.offset) })))).toBe(values.length - 20);
    expect(batched.applyBatchFromLog(records.slice(0, 5))).toBe(0);
    expect(batched.nextOffset).toBe(BigInt(values.length + 10));
    expect(batched.exportState()).toEqual(one.exportState());
  });

  it('stops at a record it cannot read, with everything before it applied', () => {
    const values = busyLog();
    const broken = Buffer.from(values[3] ?? Buffer.alloc(0));
    broken.writeUInt8(0xee, 34);
    const ledger = new PartitionLedger(0);
    const records = [...values.slice(0, 3), broken, ...values.slice(4)].map((value, offset) => ({ offset, value }));
    expect(() => ledger.applyBatchFromLog(records)).toThrow(/unknown event tag 238/);
    expect(ledger.nextOffset).toBe(3n);
  });
});
