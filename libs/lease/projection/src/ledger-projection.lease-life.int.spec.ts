import { decide, evolve, initialState, type Holder, type LeaseCommand, type LeaseEvent } from '@license-ledger/lease-domain';
import { integrationEnv } from '@license-ledger/platform-testing';
import { LedgerProjection, type PositionedRecord } from './ledger-projection';
import { projectionDifferences, readProjection } from './projection-reader';
import { createScratchSchema, type ScratchSchema } from './scratch-schema';

/*
 * Lingering locks, support locks (overdraft too) and forced releases in the PostgreSQL projection:
 * a log the decider writes, projected in batches, must equal the fold of the same log (what
 * `ledger verify` checks), lock kinds and support grants included.
 */

const AGREEMENT = 'lease-life';
const T0 = Date.UTC(2026, 5, 1);
const MINUTE = 60_000;
// Small batches, so the comparisons catch short-lived states (a linger of a few minutes).
const BATCH = 20;
const HOUR = 60 * MINUTE;
const keyOf = (n: number): string => Buffer.alloc(32, n).toString('base64');
const hashOf = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);
const holderOf = (n: number, session: number): Holder => ({ key: keyOf(n), hostname: `gw-${n}`, processId: 100 + n, sessionId: `s-${n}-${session}` });

/** xorshift32: the same log on every run. */
function randomSource(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

/** A log with every kind of lock event, as the decider writes it. */
function simulatedLog(commands: number): LeaseEvent[] {
  const random = randomSource(23);
  const state = initialState(AGREEMENT);
  const log: LeaseEvent[] = [];
  const run = (command: LeaseCommand, now: number): void => {
    for (const event of decide(command, state, now)) {
      log.push(event);
      evolve(state, event);
    }
  };
  const meta = (requestId: string) => ({ requestId });
  let now = T0;
  run({ type: 'OpenAgreement', data: { agreementId: AGREEMENT, name: 'Life', licenses: 2, lingerMs: 5 * MINUTE, bounds: { minMs: MINUTE, defaultMs: 10 * MINUTE, maxMs: HOUR } }, metadata: meta('open') }, now);
  for (let n = 1; n <= 4; n++) run({ type: 'BindReservedKey', data: { agreementId: AGREEMENT, key: keyOf(n) }, metadata: meta(`bind-${n}`) }, now);
  for (let i = 0; i < commands; i++) {
    now += Math.floor(random() * 2 * MINUTE);
    const dice = random();
    const n = 1 + Math.floor(random() * 4);
    const holder = holderOf(n, Math.floor(random() * 2));
    // Mostly one hash per key, so locks often have a single holder whose release is the last.
    const configHash = hashOf(random() < 0.8 ? n : Math.floor(random() * 4));
    const requestId = `r${i}`;
    if (dice < 0.5) run({ type: 'AcquireLock', data: { agreementId: AGREEMENT, configHash, holder, requestedPeriodMs: Math.floor(random() * HOUR) }, metadata: meta(requestId) }, now);
    else if (dice < 0.72) run({ type: 'ReleaseLock', data: { agreementId: AGREEMENT, configHash, holder }, metadata: meta(requestId) }, now);
    else if (dice < 0.8) {
      const until = now + 1 + Math.floor(random() * 3 * HOUR);
      run({ type: 'IssueSupportLock', data: { agreementId: AGREEMENT, configHash, key: holder.key, until, reason: `case ${i}`, issuedBy: 'support', overdraft: random() < 0.5 }, metadata: meta(requestId) }, now);
    } else if (dice < 0.83) run({ type: 'ForceReleaseLock', data: { agreementId: AGREEMENT, configHash, reason: `case ${i}`, releasedBy: 'ops' }, metadata: meta(requestId) }, now);
    else if (dice < 0.97) run({ type: 'ExpireLocks', data: { agreementId: AGREEMENT }, metadata: meta(requestId) }, now);
    else run({ type: 'ChangeAgreement', data: { agreementId: AGREEMENT, licenses: 1 + Math.floor(random() * 3), lingerMs: Math.floor(random() * 3) * MINUTE }, metadata: meta(requestId) }, now);
  }
  return log;
}

describe('LedgerProjection of linger, support locks and forced releases (real database)', () => {
  let scratch: ScratchSchema;

  beforeAll(async () => {
    scratch = await createScratchSchema(integrationEnv().databaseUrl);
  });
  afterAll(async () => {
    await scratch?.drop();
  });

  it('equals the fold of the log after every batch, lock kinds and support grants included', async () => {
    const log = simulatedLog(1_500);
    const kinds = new Set(log.map((event) => event.type));
    expect(kinds).toEqual(new Set(['AgreementOpened', 'AgreementChanged', 'KeyBound', 'LockGranted', 'LockRenewed', 'LockReleased', 'SupportLockIssued', 'LockForceReleased', 'LockExpired', 'RequestDenied']));
    const projection = new LedgerProjection(scratch.prisma);
    const state = initialState(AGREEMENT);
    let seen = { lingering: 0, support: 0, heldWithSupport: 0 };
    for (let start = 0; start < log.length; start += BATCH) {
      const batch = log.slice(start, start + BATCH);
      const records: PositionedRecord[] = batch.map((record, i) => ({ partition: 0, offset: BigInt(start + i), record }));
      expect(await projection.applyBatch(records)).toEqual({ applied: batch.length, duplicates: 0, markers: 0 });
      for (const event of batch) evolve(state, event);
      const projected = await readProjection(scratch.prisma);
      expect(projectionDifferences([state], projected)).toEqual([]);
      const locks = projected[0]?.locks ?? [];
      seen = {
        lingering: seen.lingering + locks.filter((l) => l.kind === 'lingering').length,
        support: seen.support + locks.filter((l) => l.kind === 'support').length,
        heldWithSupport: seen.heldWithSupport + locks.filter((l) => l.kind === 'held' && l.support).length,
      };
    }
    // The comparisons above did see each kind of lock in the projection.
    expect(seen.lingering).toBeGreaterThan(0);
    expect(seen.support).toBeGreaterThan(0);
    expect(seen.heldWithSupport).toBeGreaterThan(0);
    expect((await readProjection(scratch.prisma))[0]?.lingerMs).toBe(state.lingerMs);
  }, 120_000);
});
