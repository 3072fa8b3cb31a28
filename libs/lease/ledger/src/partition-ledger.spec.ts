import { LeaseCommand, LeaseEvent } from '@license-ledger/lease-domain';
import { DEDUP_WINDOW_MS, PartitionLedger } from './partition-ledger';

const T0 = Date.UTC(2026, 0, 1);
const key = Buffer.alloc(32, 1).toString('base64');
const holder = { key, hostname: 'gw', processId: 1, sessionId: 's1' };
const hash = (n: number): string => n.toString(16).padStart(64, '0');

function cmd(type: LeaseCommand['type'], data: Record<string, unknown>, requestId: string): LeaseCommand {
  return { type, data: { agreementId: 'a1', ...data }, metadata: { requestId } } as unknown as LeaseCommand;
}

function openWithKey(ledger: PartitionLedger, licenses: number): void {
  ledger.decideAndApply(cmd('OpenAgreement', { name: 'A', licenses, bounds: { minMs: 1_000, defaultMs: 10_000, maxMs: 60_000 } }, 'open'), T0);
  ledger.decideAndApply(cmd('BindKey', { key }, 'bind'), T0);
}

describe('PartitionLedger', () => {
  it('applies a log record once, whoever applies it first (owner or reader)', () => {
    const owner = new PartitionLedger(0);
    openWithKey(owner, 1);
    const { events } = owner.decideAndApply(cmd('AcquireLock', { configHash: hash(1), holder }, 'r1'), T0);
    owner.writtenUpTo(3n);

    // The reader later delivers the same records at offsets 0..2: all skipped.
    const recorded: LeaseEvent[] = [...events];
    expect(recorded.map((e) => owner.applyFromLog(2n, e))).toEqual([false]);
    expect(owner.applyFromLog(3n, { type: 'PartitionClaimed', data: { partition: 0, owner: 'x', claimId: 'c' }, metadata: { at: T0 } })).toBe(true);
    expect(owner.nextOffset).toBe(4n);
  });

  it('answers a repeated request id with the first outcome and decides nothing new', () => {
    const ledger = new PartitionLedger(0);
    openWithKey(ledger, 1);
    const first = ledger.decideAndApply(cmd('AcquireLock', { configHash: hash(1), holder }, 'r1'), T0);
    expect(first.outcome.kind).toBe('granted');
    const again = ledger.decideAndApply(cmd('AcquireLock', { configHash: hash(1), holder }, 'r1'), T0 + 5);
    expect(again).toEqual({ events: [], outcome: first.outcome, duplicate: true });
  });

  it('keeps the outcome of a multi-event decision whole when folding it from the log', () => {
    const writer = new PartitionLedger(0);
    const log: LeaseEvent[] = [];
    const run = (command: LeaseCommand, now: number) => {
      const decided = writer.decideAndApply(command, now);
      log.push(...decided.events);
      return decided;
    };
    run(cmd('OpenAgreement', { name: 'A', licenses: 1, bounds: { minMs: 1_000, defaultMs: 10_000, maxMs: 60_000 } }, 'open'), T0);
    run(cmd('BindKey', { key }, 'bind'), T0);
    run(cmd('AcquireLock', { configHash: hash(1), holder }, 'r1'), T0);
    // The lock expired but no LockExpired was written yet: re-acquiring it expires and grants.
    const decided = run(cmd('AcquireLock', { configHash: hash(1), holder }, 'r2'), T0 + 20_000);
    expect(decided.events.map((e) => e.type)).toEqual(['LockExpired', 'LockGranted']);

    const reader = new PartitionLedger(0);
    log.forEach((event, offset) => reader.applyFromLog(BigInt(offset), event));
    expect(reader.outcomeOf('r2')).toEqual(decided.outcome);
    expect(reader.outcomeOf('r2')?.kind).toBe('granted');
  });

  it('forgets outcomes older than the dedup window', () => {
    const ledger = new PartitionLedger(0);
    openWithKey(ledger, 5);
    ledger.decideAndApply(cmd('AcquireLock', { configHash: hash(1), holder, requestedPeriodMs: 60_000 }, 'old'), T0);
    ledger.decideAndApply(cmd('AcquireLock', { configHash: hash(2), holder }, 'new'), T0 + DEDUP_WINDOW_MS + 1);
    expect(ledger.outcomeOf('old')).toBeUndefined();
    expect(ledger.outcomeOf('new')?.kind).toBe('granted');
  });
});
