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
