import type { LeaseCommand } from './commands';
import { decide, evolve } from './decider';
import type { LeaseEvent } from './events';
import { checkInvariants, LeaseInvariantChecker, type InvariantRule } from './invariants';
import { initialState } from './state';
import {
  acquire,
  AGREEMENT,
  bound,
  changed,
  closed,
  expired,
  forceReleased,
  granted,
  hashOf,
  holderOf,
  HOUR,
  keyOf,
  meta,
  MINUTE,
  opened,
  openWithKeys,
  release,
  released,
  renewed,
  supportIssued,
  T0,
} from './testing/fixtures';

const A = hashOf(0xa1);
const B = hashOf(0xb2);
const C = hashOf(0xc3);
const gw1 = holderOf(1);
const gw2 = holderOf(2);
const gw3 = holderOf(3);

const onAgreement = (agreementId: string, event: LeaseEvent): LeaseEvent => ({ ...event, data: { ...event.data, agreementId } }) as LeaseEvent;
const rulesOf = (events: LeaseEvent[]): InvariantRule[] => checkInvariants(events).map((violation) => violation.rule);

/** xorshift32, so the simulated log is the same on every run. */
function randomSource(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

describe('checkInvariants on logs the decider writes', () => {
  it('finds nothing in a long simulated log with expiries, re-acquires, shared locks and license changes', () => {
    const random = randomSource(7);
    const state = initialState(AGREEMENT);
    const log: LeaseEvent[] = [];
    const run = (command: LeaseCommand, now: number): void => {
      for (const event of decide(command, state, now)) {
        log.push(event);
        evolve(state, event);
      }
    };
    let now = T0;
    run({ type: 'OpenAgreement', data: { agreementId: AGREEMENT, name: 'Sim', licenses: 3, bounds: { minMs: MINUTE, defaultMs: 10 * MINUTE, maxMs: HOUR } }, metadata: { requestId: 'open' } }, now);
    // Each key as the key's stream would have it bound, once reserved (key-binding.spec.ts).
    for (let key = 1; key <= 6; key++) run({ type: 'BindReservedKey', data: { agreementId: AGREEMENT, key: keyOf(key) }, metadata: { requestId: `bind-${key}` } }, now);
    for (let i = 0; i < 5_000; i++) {
      now += Math.floor(random() * 3 * MINUTE);
      const dice = random();
      const gateway = holderOf(1 + Math.floor(random() * 7)); // gateway 7 is never bound
      const hash = hashOf(Math.floor(random() * 5));
      if (dice < 0.6) run(acquire(`r${i}`, hash, gateway, Math.floor(random() * 2 * HOUR)), now);
      else if (dice < 0.85) run(release(`r${i}`, hash, gateway), now);
      else if (dice < 0.95) run({ type: 'ExpireLocks', data: { agreementId: AGREEMENT }, metadata: { requestId: `r${i}` } }, now);
      else run({ type: 'ChangeAgreement', data: { agreementId: AGREEMENT, licenses: Math.floor(random() * 5) }, metadata: { requestId: `r${i}` } }, now);
    }
    const types = new Set(log.map((event) => event.type));
    expect([...types].sort()).toEqual(['AgreementChanged', 'AgreementOpened', 'KeyBound', 'LockExpired', 'LockGranted', 'LockReleased', 'LockRenewed', 'RequestDenied']);
    // The simulation did hit the interesting case: LockExpired and LockGranted in one decision.
    expect(log.some((event, i) => event.type === 'LockGranted' && log[i - 1]?.type === 'LockExpired' && log[i - 1]?.metadata.requestId === event.metadata.requestId)).toBe(true);
    expect(checkInvariants(log)).toEqual([]);
  });

  it('accepts one request yielding several events (LockExpired + LockGranted) as one decision', () => {
    const log = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR), expired(meta('r2', T0 + HOUR), A, T0 + HOUR), granted(meta('r2', T0 + HOUR), A, gw2, T0 + 2 * HOUR)];
    expect(checkInvariants(log)).toEqual([]);
  });

  it('accepts more live locks than licenses after licenses were lowered: nothing is revoked', () => {
    const log = [...openWithKeys(2), granted(meta('r1', T0), A, gw1, T0 + HOUR), granted(meta('r2', T0), B, gw2, T0 + HOUR), changed(meta('r3', T0), 1), renewed(meta('r4', T0 + 1), A, gw1, T0 + 2 * HOUR)];
    expect(checkInvariants(log)).toEqual([]);
  });
});

describe('checkInvariants on broken logs', () => {
  const base = openWithKeys(2);

  it('flags time going back within an agreement, but not across agreements', () => {
    expect(rulesOf([...base, granted(meta('r1', T0 + 10), A, gw1, T0 + HOUR), granted(meta('r2', T0 + 5), B, gw2, T0 + HOUR)])).toEqual(['time_order']);
    const other = 'agreement-other';
    expect(rulesOf([...base, granted(meta('r1', T0 + 10), A, gw1, T0 + HOUR), onAgreement(other, opened(meta('o1', T0)))])).toEqual([]);
  });

  it('flags a request decided twice, events of one request at two times, and one request in two agreements', () => {
    expect(
      checkInvariants([...base, granted(meta('r1', T0), A, gw1, T0 + HOUR), granted(meta('r2', T0), B, gw2, T0 + HOUR), renewed(meta('r1', T0 + 1), A, gw1, T0 + 2 * HOUR)]),
    ).toEqual([{ index: base.length + 2, rule: 'request_decided_once', agreementId: AGREEMENT, requestId: 'r1', message: 'request r1 was already decided' }]);
    expect(rulesOf([...base, granted(meta('r1', T0), A, gw1, T0 + HOUR), granted(meta('r1', T0 + 1), B, gw2, T0 + HOUR)])).toEqual(['request_decided_once']);
    const other = 'agreement-other';
    const violations = checkInvariants([...base, granted(meta('r1', T0), A, gw1, T0 + HOUR), onAgreement(other, opened(meta('r1', T0)))]);
    expect(violations).toMatchObject([{ rule: 'request_decided_once', agreementId: other, message: `request r1 was already decided for agreement "${AGREEMENT}"` }]);
  });

  it('flags a grant beyond the licenses, counting only live locks', () => {
    const full = [...base, granted(meta('r1', T0), A, gw1, T0 + HOUR), granted(meta('r2', T0), B, gw2, T0 + HOUR)];
    expect(rulesOf([...full, granted(meta('r3', T0 + HOUR - 1), C, gw3, T0 + 2 * HOUR)])).toEqual(['licenses_exceeded']);
    // At exactly the expiry both locks are free (even without LockExpired): the grant fits.
    expect(rulesOf([...full, granted(meta('r3', T0 + HOUR), C, gw3, T0 + 2 * HOUR)])).toEqual([]);
  });

  it('flags renewing a lock that is not live: at exactly its expiry, later, or never granted', () => {
    const held = [...base, granted(meta('r1', T0), A, gw1, T0 + HOUR)];
    expect(rulesOf([...held, renewed(meta('r2', T0 + HOUR - 1), A, gw1, T0 + 2 * HOUR)])).toEqual([]);
    expect(rulesOf([...held, renewed(meta('r2', T0 + HOUR), A, gw1, T0 + 2 * HOUR)])).toEqual(['renewal_of_dead_lock']);
    expect(rulesOf([...held, renewed(meta('r2', T0 + 3 * HOUR), A, gw1, T0 + 4 * HOUR)])).toEqual(['renewal_of_dead_lock']);
    expect(rulesOf([...base, renewed(meta('r2', T0), B, gw1, T0 + HOUR)])).toEqual(['renewal_of_dead_lock']);
  });

  it('flags a renewal that moves the expiry earlier', () => {
    expect(rulesOf([...base, granted(meta('r1', T0), A, gw1, T0 + HOUR), renewed(meta('r2', T0 + 1), A, gw1, T0 + HOUR - 1)])).toEqual(['expiry_moved_earlier']);
  });

  it('flags lock events that contradict the recorded locks', () => {
    const held = [...base, granted(meta('r1', T0), A, gw1, T0 + HOUR)];
    expect(rulesOf([...held, granted(meta('r2', T0 + 1), A, gw2, T0 + HOUR)])).toEqual(['lock_consistency']); // a renewal was due
    expect(rulesOf([...held, granted(meta('r2', T0 + 2 * HOUR), A, gw2, T0 + 3 * HOUR)])).toEqual(['lock_consistency']); // LockExpired missing
    expect(rulesOf([...held, expired(meta('r2', T0 + HOUR - 1), A, T0 + HOUR)])).toEqual(['lock_consistency']); // expired early
    expect(rulesOf([...held, expired(meta('r2', T0 + HOUR), A, T0 + 1)])).toEqual(['lock_consistency']); // wrong expiredAt
    expect(rulesOf([...held, expired(meta('r2', T0 + HOUR), B, T0 + HOUR)])).toEqual(['lock_consistency']); // unknown lock
    expect(rulesOf([...held, released(meta('r2', T0 + 1), A, gw2, true)])).toEqual(['lock_consistency']); // not a holder
    expect(rulesOf([...held, released(meta('r2', T0 + 1), A, gw1, false)])).toEqual(['lock_consistency']); // freed flag wrong
    expect(rulesOf([...base, granted(meta('r2', T0 + 1), B, gw1, T0 + 1)])).toEqual(['lock_consistency']); // born expired
  });

  it('flags events that contradict the agreement or its keys', () => {
    expect(rulesOf([...base, closed(meta('r1', T0)), granted(meta('r2', T0), A, gw1, T0 + HOUR)])).toEqual(['agreement_consistency']);
    expect(rulesOf([...base, granted(meta('r1', T0), A, holderOf(9), T0 + HOUR)])).toEqual(['agreement_consistency']);
    expect(rulesOf([...base, opened(meta('r1', T0))])).toEqual(['agreement_consistency']);
    expect(rulesOf([bound(meta('r1', T0), keyOf(1))])).toEqual(['agreement_consistency']);
  });

  it('streams: observe reports each event as it comes, with its index', () => {
    const checker = new LeaseInvariantChecker();
    for (const event of base) expect(checker.observe(event)).toEqual([]);
    expect(checker.observe(granted(meta('r1', T0), A, gw1, T0 + HOUR))).toEqual([]);
    expect(checker.observe(renewed(meta('r2', T0 + 2 * HOUR), A, gw1, T0 + 3 * HOUR))).toEqual([
      { index: base.length + 1, rule: 'renewal_of_dead_lock', agreementId: AGREEMENT, requestId: 'r2', message: `renewal at ${T0 + 2 * HOUR} of lock ${A}, which expired at ${T0 + HOUR}` },
    ]);
    expect(checker.violations).toHaveLength(1);
  });
});

describe('checkInvariants with linger, support locks and forced releases', () => {
  const base = openWithKeys(1);
  const DAY = 24 * HOUR;

  it('finds nothing in a simulated log with lingering releases, support locks (some overdraft) and forced releases', () => {
    const random = randomSource(11);
    const state = initialState(AGREEMENT);
    const log: LeaseEvent[] = [];
    const run = (command: LeaseCommand, now: number): void => {
      for (const event of decide(command, state, now)) {
        log.push(event);
        evolve(state, event);
      }
    };
    let now = T0;
    run({ type: 'OpenAgreement', data: { agreementId: AGREEMENT, name: 'Sim', licenses: 2, lingerMs: 5 * MINUTE, bounds: { minMs: MINUTE, defaultMs: 10 * MINUTE, maxMs: HOUR } }, metadata: { requestId: 'open' } }, now);
    for (let key = 1; key <= 4; key++) run({ type: 'BindReservedKey', data: { agreementId: AGREEMENT, key: keyOf(key) }, metadata: { requestId: `bind-${key}` } }, now);
    for (let i = 0; i < 5_000; i++) {
      now += Math.floor(random() * 2 * MINUTE);
      const dice = random();
      // Two sessions per key, so forced-out sessions and fresh ones both show up.
      const n = 1 + Math.floor(random() * 4);
      const gateway = holderOf(n, { sessionId: `session-${n}-${Math.floor(random() * 2)}` });
      const hash = hashOf(Math.floor(random() * 4));
      const requestId = `r${i}`;
      if (dice < 0.5) run(acquire(requestId, hash, gateway, Math.floor(random() * HOUR)), now);
      else if (dice < 0.75) run(release(requestId, hash, gateway), now);
      else if (dice < 0.82) run({ type: 'IssueSupportLock', data: { agreementId: AGREEMENT, configHash: hash, key: gateway.key, until: now + Math.floor(random() * 3 * HOUR) + 1, reason: 'sim', issuedBy: 'sim', overdraft: random() < 0.5 }, metadata: { requestId } }, now);
      else if (dice < 0.88) run({ type: 'ForceReleaseLock', data: { agreementId: AGREEMENT, configHash: hash, reason: 'sim', releasedBy: 'sim' }, metadata: { requestId } }, now);
      else if (dice < 0.97) run({ type: 'ExpireLocks', data: { agreementId: AGREEMENT }, metadata: { requestId } }, now);
      else run({ type: 'ChangeAgreement', data: { agreementId: AGREEMENT, licenses: Math.floor(random() * 4), lingerMs: Math.floor(random() * 3) * MINUTE }, metadata: { requestId } }, now);
    }
    const seen = (predicate: (event: LeaseEvent) => boolean): boolean => log.some(predicate);
    // The simulation did reach each case the rules are about.
    expect(seen((e) => e.type === 'LockReleased' && e.data.keptUntil !== undefined)).toBe(true);
    expect(seen((e) => e.type === 'SupportLockIssued' && e.data.overdraft)).toBe(true);
    expect(seen((e) => e.type === 'LockForceReleased' && e.data.holders.length > 0)).toBe(true);
    expect(seen((e) => e.type === 'RequestDenied' && e.data.reason === 'lock_released_by_operator')).toBe(true);
    expect(seen((e) => e.type === 'RequestDenied' && e.data.reason === 'lock_not_held')).toBe(true);
    expect(checkInvariants(log)).toEqual([]);
  });

  it('accepts a support lock beyond the licenses only when it is recorded as overdraft', () => {
    const full = [...base, granted(meta('r1', T0), A, gw1, T0 + HOUR)];
    expect(rulesOf([...full, supportIssued(meta('s1', T0), B, keyOf(2), T0 + DAY, { overdraft: true })])).toEqual([]);
    expect(rulesOf([...full, supportIssued(meta('s1', T0), B, keyOf(2), T0 + DAY)])).toEqual(['licenses_exceeded']);
    // Overdraft recorded where the licenses were not exceeded is a false record.
    expect(rulesOf([...base, supportIssued(meta('s1', T0), B, keyOf(2), T0 + DAY, { overdraft: true })])).toEqual(['lock_consistency']);
    // After an overdraft, an ordinary grant beyond the licenses is still flagged.
    expect(rulesOf([...full, supportIssued(meta('s1', T0), B, keyOf(2), T0 + DAY, { overdraft: true }), granted(meta('r2', T0), C, gw3, T0 + HOUR)])).toEqual(['licenses_exceeded']);
  });

  it('flags a support lock outside (now, now + 30 days], for an unbound key, or on a closed agreement', () => {
    expect(rulesOf([...base, supportIssued(meta('s1', T0), A, keyOf(1), T0)])).toEqual(['lock_consistency']);
    expect(rulesOf([...base, supportIssued(meta('s1', T0), A, keyOf(1), T0 + 31 * DAY)])).toEqual(['lock_consistency']);
    expect(rulesOf([...base, supportIssued(meta('s1', T0), A, keyOf(9), T0 + DAY)])).toEqual(['agreement_consistency']);
    expect(rulesOf([...base, closed(meta('c1', T0)), supportIssued(meta('s1', T0), A, keyOf(1), T0 + DAY)])).toEqual(['agreement_consistency']);
  });

  it('flags a release whose linger does not follow the agreement', () => {
    const lingering = [...openWithKeys(1, 3, undefined, 10 * MINUTE), granted(meta('r1', T0), A, gw1, T0 + HOUR)];
    expect(rulesOf([...lingering, released(meta('r2', T0), A, gw1, false, T0 + 10 * MINUTE)])).toEqual([]);
    expect(rulesOf([...lingering, released(meta('r2', T0), A, gw1, true)])).toEqual(['lock_consistency']);
    expect(rulesOf([...lingering, released(meta('r2', T0), A, gw1, false, T0 + HOUR)])).toEqual(['lock_consistency']);
    expect(rulesOf([...base, granted(meta('r1', T0), A, gw1, T0 + HOUR), released(meta('r2', T0), A, gw1, false, T0 + MINUTE)])).toEqual(['lock_consistency']);
  });

  it('flags renewing or re-granting to a session ops released by force, and a forced release of a lock that is not live', () => {
    const forced = [...base, granted(meta('r1', T0), A, gw1, T0 + HOUR), forceReleased(meta('f1', T0), A, [gw1], T0 + HOUR)];
    expect(rulesOf([...forced, granted(meta('r2', T0 + MINUTE), A, gw1, T0 + HOUR)])).toEqual(['lock_consistency']);
    expect(rulesOf([...forced, granted(meta('r2', T0 + MINUTE), A, holderOf(1, { sessionId: 'fresh' }), T0 + HOUR)])).toEqual([]);
    expect(rulesOf([...forced, granted(meta('r2', T0 + HOUR), A, gw1, T0 + 2 * HOUR)])).toEqual([]);
    expect(rulesOf([...base, forceReleased(meta('f1', T0), A, [], T0 + HOUR)])).toEqual(['lock_consistency']);
    expect(rulesOf([...base, granted(meta('r1', T0), A, gw1, T0 + HOUR), forceReleased(meta('f1', T0), A, [gw2], T0 + HOUR)])).toEqual(['lock_consistency']);
  });
});
