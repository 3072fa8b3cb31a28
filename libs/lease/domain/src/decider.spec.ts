import type { LeaseCommand } from './commands';
import { clampPeriod, decide } from './decider';
import { lockOf, locksOf, nextExpiry, liveLockCount } from './state';
import { given, stateAfter } from './testing/given-when-then';
import {
  acquire,
  AGREEMENT,
  bindRequested,
  bound,
  changed,
  closed,
  deniedAcquire,
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
  revoked,
  T0,
} from './testing/fixtures';
import { DEFAULT_BOUNDS } from './values';

const A = hashOf(0xa1);
const B = hashOf(0xb2);
const C = hashOf(0xc3);
const gw1 = holderOf(1);
const gw2 = holderOf(2);
const gw3 = holderOf(3);
const DEFAULT = DEFAULT_BOUNDS.defaultMs;

const expireLocks = (requestId: string): LeaseCommand => ({ type: 'ExpireLocks', data: { agreementId: AGREEMENT }, metadata: { requestId } });
const open = (requestId: string, data: Partial<{ name: string; licenses: number; bounds: Partial<typeof DEFAULT_BOUNDS> }> = {}): LeaseCommand => ({
  type: 'OpenAgreement',
  data: { agreementId: AGREEMENT, name: 'Acme Trading', licenses: 2, ...data },
  metadata: { requestId },
});
const change = (requestId: string, data: Partial<{ name: string; licenses: number; bounds: Partial<typeof DEFAULT_BOUNDS> }>): LeaseCommand => ({
  type: 'ChangeAgreement',
  data: { agreementId: AGREEMENT, ...data },
  metadata: { requestId },
});
const close = (requestId: string): LeaseCommand => ({ type: 'CloseAgreement', data: { agreementId: AGREEMENT }, metadata: { requestId } });
const bind = (requestId: string, key: string): LeaseCommand => ({ type: 'BindKey', data: { agreementId: AGREEMENT, key }, metadata: { requestId } });
const revoke = (requestId: string, key: string): LeaseCommand => ({ type: 'RevokeKey', data: { agreementId: AGREEMENT, key }, metadata: { requestId } });
const invalid = (requestId: string, at: number, command: string, message: RegExp, key?: string) => ({
  type: 'RequestDenied' as const,
  data: { agreementId: AGREEMENT, reason: 'invalid_command' as const, command, message: expect.stringMatching(message), ...(key === undefined ? {} : { key }) },
  metadata: meta(requestId, at),
});

describe('acquiring a lock', () => {
  it('grants a new hash for the default period when licenses are free', () => {
    given(openWithKeys(2))
      .when(acquire('r1', A, gw1), T0 + 1)
      .then([granted(meta('r1', T0 + 1), A, gw1, T0 + 1 + DEFAULT)]);
  });

  it('clamps the requested period to the bounds: below min, above max, inside, absent', () => {
    const bounds = { minMs: 5 * MINUTE, defaultMs: 2 * HOUR, maxMs: 10 * HOUR };
    const history = openWithKeys(4, 3, bounds);
    given(history).when(acquire('r1', A, gw1, 1), T0).then([granted(meta('r1', T0), A, gw1, T0 + 5 * MINUTE)]);
    given(history).when(acquire('r2', A, gw1, 100 * HOUR), T0).then([granted(meta('r2', T0), A, gw1, T0 + 10 * HOUR)]);
    given(history).when(acquire('r3', A, gw1, 3 * HOUR), T0).then([granted(meta('r3', T0), A, gw1, T0 + 3 * HOUR)]);
    given(history).when(acquire('r4', A, gw1), T0).then([granted(meta('r4', T0), A, gw1, T0 + 2 * HOUR)]);
    given(history).when(acquire('r5', A, gw1, -HOUR), T0).then([granted(meta('r5', T0), A, gw1, T0 + 5 * MINUTE)]);
  });

  it('clampPeriod treats a non-finite wish as absent and rounds to whole milliseconds', () => {
    expect(clampPeriod(Number.NaN, DEFAULT_BOUNDS)).toBe(DEFAULT);
    expect(clampPeriod(Number.POSITIVE_INFINITY, DEFAULT_BOUNDS)).toBe(DEFAULT);
    expect(clampPeriod(DEFAULT + 0.4, DEFAULT_BOUNDS)).toBe(DEFAULT);
  });

  it('renews a live lock: the expiry moves later', () => {
    given([...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)])
      .when(acquire('r2', A, gw1, HOUR), T0 + 30 * MINUTE)
      .then([renewed(meta('r2', T0 + 30 * MINUTE), A, gw1, T0 + 90 * MINUTE)]);
  });

  it('renewal never moves the expiry earlier', () => {
    const history = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + 5 * HOUR)];
    const when = given(history).when(acquire('r2', A, gw1, 10 * MINUTE), T0 + MINUTE);
    when.then([renewed(meta('r2', T0 + MINUTE), A, gw1, T0 + 5 * HOUR)]);
    expect(when.outcome()).toEqual({ kind: 'granted', configHash: A, expiresAt: T0 + 5 * HOUR, renewed: true });
  });

  it('renews a live lock even when all licenses are used (it already holds one)', () => {
    given([...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)])
      .when(acquire('r2', A, gw1), T0 + MINUTE)
      .then([renewed(meta('r2', T0 + MINUTE), A, gw1, T0 + MINUTE + DEFAULT)]);
  });

  it('denies a new hash when every license holds a live lock', () => {
    given([...openWithKeys(2), granted(meta('r1', T0), A, gw1, T0 + HOUR), granted(meta('r2', T0), B, gw2, T0 + HOUR)])
      .when(acquire('r3', C, gw3), T0 + MINUTE)
      .then([deniedAcquire(meta('r3', T0 + MINUTE), 'no_available_licenses', expect.stringContaining('all 2 licenses'), gw3, C)]);
  });

  it('denies an unknown key', () => {
    given(openWithKeys(2, 1))
      .when(acquire('r1', A, gw2), T0)
      .then([deniedAcquire(meta('r1', T0), 'no_license_agreement', expect.stringContaining('not bound'), gw2, A)]);
  });

  it('denies a revoked key, even to renew the lock it still holds', () => {
    given([...openWithKeys(2), granted(meta('r1', T0), A, gw1, T0 + HOUR), revoked(meta('r2', T0), gw1.key)])
      .when(acquire('r3', A, gw1), T0 + MINUTE)
      .then([deniedAcquire(meta('r3', T0 + MINUTE), 'no_license_agreement', expect.stringContaining('unknown or revoked'), gw1, A)]);
  });

  it('denies on an unknown agreement and on a closed one', () => {
    given([]).when(acquire('r1', A, gw1), T0).then([deniedAcquire(meta('r1', T0), 'no_license_agreement', expect.stringContaining('does not exist'), gw1, A)]);
    given([...openWithKeys(2), closed(meta('r2', T0))])
      .when(acquire('r3', A, gw1), T0 + 1)
      .then([deniedAcquire(meta('r3', T0 + 1), 'no_license_agreement', expect.stringContaining('is closed'), gw1, A)]);
  });

  it('reports the answer through outcomeOf', () => {
    expect(given(openWithKeys(2)).when(acquire('r1', A, gw1), T0).outcome()).toEqual({ kind: 'granted', configHash: A, expiresAt: T0 + DEFAULT, renewed: false });
    expect(given(openWithKeys(0)).when(acquire('r1', A, gw1), T0).outcome()).toEqual({
      kind: 'denied',
      reason: 'no_available_licenses',
      message: 'all 0 licenses of agreement "agreement-0042" are held by live locks (0)',
    });
  });
});

describe('the expiry boundary: live iff expiresAt > now', () => {
  const history = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)];

  it('one millisecond before expiry the lock is live: renewed, and it still blocks a new hash', () => {
    given(history).when(acquire('r2', A, gw1, HOUR), T0 + HOUR - 1).then([renewed(meta('r2', T0 + HOUR - 1), A, gw1, T0 + 2 * HOUR - 1)]);
    given(history)
      .when(acquire('r2', B, gw2), T0 + HOUR - 1)
      .then([deniedAcquire(meta('r2', T0 + HOUR - 1), 'no_available_licenses', expect.any(String), gw2, B)]);
    expect(liveLockCount(stateAfter(AGREEMENT, history), T0 + HOUR - 1)).toBe(1);
  });

  it('at exactly expiresAt the lock is not live: it no longer blocks a new hash', () => {
    expect(liveLockCount(stateAfter(AGREEMENT, history), T0 + HOUR)).toBe(0);
    given(history).when(acquire('r2', B, gw2), T0 + HOUR).then([granted(meta('r2', T0 + HOUR), B, gw2, T0 + HOUR + DEFAULT)]);
  });

  it('at exactly expiresAt its own hash is not renewed but recorded expired and granted afresh', () => {
    given(history)
      .when(acquire('r2', A, gw1, HOUR), T0 + HOUR)
      .then([expired(meta('r2', T0 + HOUR), A, T0 + HOUR), granted(meta('r2', T0 + HOUR), A, gw1, T0 + 2 * HOUR)]);
  });

  it('ExpireLocks at exactly expiresAt expires it; one millisecond earlier it does not', () => {
    given(history).when(expireLocks('x1'), T0 + HOUR - 1).then([]);
    given(history).when(expireLocks('x1'), T0 + HOUR).then([expired(meta('x1', T0 + HOUR), A, T0 + HOUR)]);
  });
});

describe('re-acquiring after expiry, before LockExpired is written', () => {
  const history = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)];

  it('records LockExpired and then LockGranted in the same decision, and answers granted', () => {
    const when = given(history).when(acquire('r2', A, gw2), T0 + 2 * HOUR);
    when.then([expired(meta('r2', T0 + 2 * HOUR), A, T0 + HOUR), granted(meta('r2', T0 + 2 * HOUR), A, gw2, T0 + 4 * HOUR)]);
    expect(when.outcome()).toEqual({ kind: 'granted', configHash: A, expiresAt: T0 + 4 * HOUR, renewed: false });
    // The old holder is gone: the new lock has only the new holder.
    expect(lockOf(when.state(), A)?.holders).toEqual([gw2]);
  });

  it('records the expiry even when the hash is then denied for lack of licenses', () => {
    given([...history, changed(meta('r2', T0), 0)])
      .when(acquire('r3', A, gw1), T0 + 2 * HOUR)
      .then([expired(meta('r3', T0 + 2 * HOUR), A, T0 + HOUR), deniedAcquire(meta('r3', T0 + 2 * HOUR), 'no_available_licenses', expect.any(String), gw1, A)]);
  });

  it('never counts an unrecorded expired lock, so a new hash fits', () => {
    given(history).when(acquire('r2', B, gw2), T0 + 2 * HOUR).then([granted(meta('r2', T0 + 2 * HOUR), B, gw2, T0 + 4 * HOUR)]);
  });
});

describe('shared locks', () => {
  const shared = [
    ...openWithKeys(1),
    granted(meta('r1', T0), A, gw1, T0 + HOUR),
    renewed(meta('r2', T0 + MINUTE), A, gw2, T0 + MINUTE + HOUR),
    renewed(meta('r3', T0 + 2 * MINUTE), A, gw3, T0 + 2 * MINUTE + HOUR),
  ];

  it('a gateway with the same hash joins the lock as a holder, using no extra license', () => {
    const when = given([...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)]).when(acquire('r2', A, gw2, HOUR), T0 + MINUTE);
    when.then([renewed(meta('r2', T0 + MINUTE), A, gw2, T0 + MINUTE + HOUR)]);
    expect(lockOf(when.state(), A)?.holders).toEqual([gw1, gw2]);
    expect(liveLockCount(when.state(), T0 + MINUTE)).toBe(1);
  });

  it('a second process on the same host and key is a holder of its own', () => {
    const sibling = holderOf(1, { processId: 7777, sessionId: 'other-session' });
    const when = given([...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)]).when(acquire('r2', A, sibling, HOUR), T0 + MINUTE);
    expect(lockOf(when.state(), A)?.holders).toEqual([gw1, sibling]);
  });

  it('renewing as an existing holder does not add it twice', () => {
    const when = given(shared).when(acquire('r4', A, gw2, HOUR), T0 + 3 * MINUTE);
    expect(lockOf(when.state(), A)?.holders).toEqual([gw1, gw2, gw3]);
  });

  it('releasing one holder does not free the lock', () => {
    const when = given(shared).when(release('r4', A, gw1), T0 + 3 * MINUTE);
    when.then([released(meta('r4', T0 + 3 * MINUTE), A, gw1, false)]);
    expect(when.outcome()).toEqual({ kind: 'released', configHash: A, freed: false });
    expect(lockOf(when.state(), A)?.holders).toEqual([gw2, gw3]);
  });

  it('releasing the last holder frees the license for another hash', () => {
    const history = [...shared, released(meta('r4', T0 + 3 * MINUTE), A, gw2, false), released(meta('r5', T0 + 3 * MINUTE), A, gw1, false)];
    expect(lockOf(stateAfter(AGREEMENT, history), A)?.holders).toEqual([gw3]);
    given(history).when(acquire('r6', B, gw1), T0 + 4 * MINUTE).then([deniedAcquire(meta('r6', T0 + 4 * MINUTE), 'no_available_licenses', expect.any(String), gw1, B)]);
    const last = given(history).when(release('r6', A, gw3), T0 + 4 * MINUTE);
    last.then([released(meta('r6', T0 + 4 * MINUTE), A, gw3, true)]);
    expect(lockOf(last.state(), A)).toBeUndefined();
    given([...history, ...last.events])
      .when(acquire('r7', B, gw1), T0 + 5 * MINUTE)
      .then([granted(meta('r7', T0 + 5 * MINUTE), B, gw1, T0 + 5 * MINUTE + DEFAULT)]);
  });

  it('releasing a lock one does not hold, or that is gone, is denied lock_not_held and changes nothing', () => {
    const notHeld = given(shared).when(release('r4', A, holderOf(9)), T0 + 3 * MINUTE);
    notHeld.then([deniedAcquire(meta('r4', T0 + 3 * MINUTE), 'lock_not_held', expect.stringContaining('other gateway processes hold it'), holderOf(9), A, 'ReleaseLock')]);
    expect(locksOf(notHeld.state())).toEqual(locksOf(stateAfter(AGREEMENT, shared)));
    given(shared)
      .when(release('r4', B, gw1), T0 + 3 * MINUTE)
      .then([deniedAcquire(meta('r4', T0 + 3 * MINUTE), 'lock_not_held', expect.stringContaining('no live lock on that config hash'), gw1, B, 'ReleaseLock')]);
    expect(given(shared).when(release('r4', B, gw1), T0 + 3 * MINUTE).outcome()).toEqual({
      kind: 'denied',
      reason: 'lock_not_held',
      message: `this gateway process does not hold lock ${B} of agreement "${AGREEMENT}": no live lock on that config hash (released, expired, or never acquired)`,
    });
  });

  it('releasing twice: the second release is denied lock_not_held', () => {
    const once = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR), released(meta('r2', T0 + MINUTE), A, gw1, true)];
    given(once).when(release('r3', A, gw1), T0 + 2 * MINUTE).then([deniedAcquire(meta('r3', T0 + 2 * MINUTE), 'lock_not_held', expect.any(String), gw1, A, 'ReleaseLock')]);
  });

  it('releasing a lock past its expiry is denied and records nothing (ExpireLocks records the expiry)', () => {
    given(shared).when(release('r4', A, gw1), T0 + 3 * HOUR).then([deniedAcquire(meta('r4', T0 + 3 * HOUR), 'lock_not_held', expect.stringContaining('no live lock'), gw1, A, 'ReleaseLock')]);
  });

  it('releasing works with a revoked key and on a closed agreement: it only frees', () => {
    given([...shared, revoked(meta('r4', T0 + 3 * MINUTE), gw1.key), closed(meta('r5', T0 + 3 * MINUTE))])
      .when(release('r6', A, gw1), T0 + 4 * MINUTE)
      .then([released(meta('r6', T0 + 4 * MINUTE), A, gw1, false)]);
  });

  it('releasing on an unknown agreement is denied', () => {
    given([]).when(release('r1', A, gw1), T0).then([deniedAcquire(meta('r1', T0), 'no_license_agreement', expect.any(String), gw1, A, 'ReleaseLock')]);
  });
});

describe('ExpireLocks', () => {
  const history = [
    ...openWithKeys(3),
    granted(meta('r1', T0), A, gw1, T0 + HOUR),
    granted(meta('r2', T0), B, gw2, T0 + 3 * HOUR),
    granted(meta('r3', T0), C, gw3, T0 + 2 * HOUR),
  ];

  it('records every lock with expiresAt <= now, and only those', () => {
    const when = given(history).when(expireLocks('x1'), T0 + 2 * HOUR);
    when.then([expired(meta('x1', T0 + 2 * HOUR), A, T0 + HOUR), expired(meta('x1', T0 + 2 * HOUR), C, T0 + 2 * HOUR)]);
    expect(when.outcome()).toEqual({ kind: 'accepted' });
    expect(lockOf(when.state(), B)).toBeDefined();
    expect(nextExpiry(when.state())).toBe(T0 + 3 * HOUR);
  });

  it('writes nothing when nothing is due, and nothing on an unknown agreement', () => {
    given(history).when(expireLocks('x1'), T0 + HOUR - 1).then([]);
    given([]).when(expireLocks('x1'), T0).then([]);
  });

  it('nextExpiry is the earliest recorded expiry, undefined without locks', () => {
    expect(nextExpiry(stateAfter(AGREEMENT, history))).toBe(T0 + HOUR);
    expect(nextExpiry(stateAfter(AGREEMENT, openWithKeys(1)))).toBeUndefined();
  });

  it('keeps running on a closed agreement so its locks still expire', () => {
    given([...history, closed(meta('r4', T0))])
      .when(expireLocks('x1'), T0 + HOUR)
      .then([expired(meta('x1', T0 + HOUR), A, T0 + HOUR)]);
  });
});

describe('changing licenses', () => {
  const full = [...openWithKeys(3), granted(meta('r1', T0), A, gw1, T0 + HOUR), granted(meta('r2', T0), B, gw2, T0 + HOUR)];

  it('lowering licenses never revokes live locks: they renew', () => {
    const lowered = [...full, changed(meta('r3', T0 + MINUTE), 1)];
    given(lowered).when(acquire('r4', A, gw1, HOUR), T0 + 2 * MINUTE).then([renewed(meta('r4', T0 + 2 * MINUTE), A, gw1, T0 + 2 * MINUTE + HOUR)]);
    given(lowered).when(acquire('r4', B, gw2, HOUR), T0 + 2 * MINUTE).then([renewed(meta('r4', T0 + 2 * MINUTE), B, gw2, T0 + 2 * MINUTE + HOUR)]);
  });

  it('lowering licenses blocks new locks until the live count fits', () => {
    const lowered = [...full, changed(meta('r3', T0 + MINUTE), 1)];
    given(lowered).when(acquire('r4', C, gw3), T0 + 2 * MINUTE).then([deniedAcquire(meta('r4', T0 + 2 * MINUTE), 'no_available_licenses', expect.any(String), gw3, C)]);
    // One release leaves 1 live lock for 1 license: still full.
    const oneReleased = [...lowered, released(meta('r4', T0 + 2 * MINUTE), A, gw1, true)];
    given(oneReleased).when(acquire('r5', C, gw3), T0 + 3 * MINUTE).then([deniedAcquire(meta('r5', T0 + 3 * MINUTE), 'no_available_licenses', expect.any(String), gw3, C)]);
    const bothReleased = [...oneReleased, released(meta('r5', T0 + 3 * MINUTE), B, gw2, true)];
    given(bothReleased).when(acquire('r6', C, gw3), T0 + 4 * MINUTE).then([granted(meta('r6', T0 + 4 * MINUTE), C, gw3, T0 + 4 * MINUTE + DEFAULT)]);
  });

  it('raising licenses admits new locks at once', () => {
    given([...full, changed(meta('r3', T0), 2)]).when(acquire('r4', C, gw3), T0).then([deniedAcquire(meta('r4', T0), 'no_available_licenses', expect.any(String), gw3, C)]);
    given([...full, changed(meta('r3', T0), 3)]).when(acquire('r4', C, gw3), T0).then([granted(meta('r4', T0), C, gw3, T0 + DEFAULT)]);
  });

  it('changed bounds apply to the next grant or renewal', () => {
    const bounds = { minMs: MINUTE, defaultMs: 10 * MINUTE, maxMs: 20 * MINUTE };
    given([...full, changed(meta('r3', T0), 3, bounds)]).when(acquire('r4', C, gw3, HOUR), T0).then([granted(meta('r4', T0), C, gw3, T0 + 20 * MINUTE)]);
  });
});

describe('ops commands', () => {
  it('opens an agreement with default bounds, or partial bounds merged over them', () => {
    given([]).when(open('r1'), T0).then([opened(meta('r1', T0), 2)]);
    given([])
      .when(open('r1', { bounds: { maxMs: 3 * HOUR } }), T0)
      .then([opened(meta('r1', T0), 2, { ...DEFAULT_BOUNDS, maxMs: 3 * HOUR })]);
    expect(given([]).when(open('r1'), T0).outcome()).toEqual({ kind: 'accepted' });
  });

  it('rejects opening an open or a closed agreement', () => {
    given(openWithKeys(1)).when(open('r9'), T0).then([invalid('r9', T0, 'OpenAgreement', /already open/)]);
    given([...openWithKeys(1), closed(meta('r2', T0))]).when(open('r9'), T0).then([invalid('r9', T0, 'OpenAgreement', /was closed/)]);
  });

  it.each([
    ['negative licenses', { licenses: -1 }, /licenses must be a non-negative integer, got -1/],
    ['fractional licenses', { licenses: 1.5 }, /non-negative integer, got 1.5/],
    ['an empty name', { name: '  ' }, /name is empty/],
    ['min above default', { bounds: { minMs: 3 * HOUR } }, /minMs <= defaultMs <= maxMs/],
    ['default above max', { bounds: { defaultMs: 8 * 24 * HOUR } }, /minMs <= defaultMs <= maxMs/],
    ['a zero min', { bounds: { minMs: 0 } }, /minMs must be a positive integer/],
    ['a fractional bound', { bounds: { maxMs: 1.5 * HOUR + 0.5 } }, /maxMs must be a positive integer/],
  ])('rejects opening with %s', (_label, data, message) => {
    given([]).when(open('r1', data), T0).then([invalid('r1', T0, 'OpenAgreement', message)]);
  });

  it('accepts zero licenses (a suspended agreement: every new lock is denied)', () => {
    given([]).when(open('r1', { licenses: 0 }), T0).then([opened(meta('r1', T0), 0)]);
  });

  it('changes only the given fields, writes the whole agreement, and skips a change that changes nothing', () => {
    given(openWithKeys(2)).when(change('r9', { licenses: 5 }), T0).then([changed(meta('r9', T0), 5)]);
    given(openWithKeys(2))
      .when(change('r9', { name: 'Acme Ltd', bounds: { minMs: MINUTE } }), T0)
      .then([changed(meta('r9', T0), 2, { ...DEFAULT_BOUNDS, minMs: MINUTE }, 'Acme Ltd')]);
    given(openWithKeys(2)).when(change('r9', { licenses: 2 }), T0).then([]);
  });

  it('rejects changes to unknown or closed agreements and invalid changes', () => {
    given([]).when(change('r9', { licenses: 5 }), T0).then([invalid('r9', T0, 'ChangeAgreement', /does not exist/)]);
    given([...openWithKeys(1), closed(meta('r2', T0))]).when(change('r9', { licenses: 5 }), T0).then([invalid('r9', T0, 'ChangeAgreement', /is closed/)]);
    given(openWithKeys(1)).when(change('r9', { licenses: -3 }), T0).then([invalid('r9', T0, 'ChangeAgreement', /non-negative integer/)]);
    given(openWithKeys(1)).when(change('r9', { bounds: { maxMs: MINUTE } }), T0).then([invalid('r9', T0, 'ChangeAgreement', /minMs <= defaultMs <= maxMs/)]);
  });

  it('closes an open agreement; closing again or an unknown one is invalid', () => {
    given(openWithKeys(1)).when(close('r9'), T0).then([closed(meta('r9', T0))]);
    given([...openWithKeys(1), closed(meta('r2', T0))]).when(close('r9'), T0).then([invalid('r9', T0, 'CloseAgreement', /is closed/)]);
    given([]).when(close('r9'), T0).then([invalid('r9', T0, 'CloseAgreement', /does not exist/)]);
  });

  it("asks to bind a key (the key's stream decides: key-binding.spec.ts); binding a bound key again is an idempotent no-op", () => {
    given([opened(meta('r1', T0))]).when(bind('r2', keyOf(1)), T0).then([bindRequested(meta('r2', T0), keyOf(1))]);
    const again = given(openWithKeys(1)).when(bind('r9', keyOf(1)), T0);
    again.then([]);
    expect(again.outcome()).toEqual({ kind: 'accepted' });
  });

  it('asks to bind a revoked key again', () => {
    given([...openWithKeys(1), revoked(meta('r2', T0), keyOf(1))]).when(bind('r9', keyOf(1)), T0).then([bindRequested(meta('r9', T0), keyOf(1))]);
  });

  it('rejects binding to an unknown or closed agreement', () => {
    given([]).when(bind('r9', keyOf(1)), T0).then([invalid('r9', T0, 'BindKey', /cannot bind a key: agreement .* does not exist/, keyOf(1))]);
    given([...openWithKeys(0, 0), closed(meta('r2', T0))]).when(bind('r9', keyOf(1)), T0).then([invalid('r9', T0, 'BindKey', /cannot bind a key: .* is closed/, keyOf(1))]);
    given(openWithKeys(1, 0)).when(bind('r9', ''), T0).then([invalid('r9', T0, 'BindKey', /key is empty/, '')]);
  });

  it('revokes a bound key, also on a closed agreement; revoking an unbound key is invalid', () => {
    given(openWithKeys(1)).when(revoke('r9', keyOf(1)), T0).then([revoked(meta('r9', T0), keyOf(1))]);
    given([...openWithKeys(1), closed(meta('r2', T0))]).when(revoke('r9', keyOf(1)), T0).then([revoked(meta('r9', T0), keyOf(1))]);
    given(openWithKeys(1)).when(revoke('r9', keyOf(9)), T0).then([invalid('r9', T0, 'RevokeKey', /not bound/, keyOf(9))]);
    given([]).when(revoke('r9', keyOf(2)), T0).then([invalid('r9', T0, 'RevokeKey', /does not exist/, keyOf(2))]);
  });

  it('outcomeOf reports an ops denial as denied invalid_command', () => {
    expect(given([]).when(close('r9'), T0).outcome()).toEqual({ kind: 'denied', reason: 'invalid_command', message: 'agreement "agreement-0042" does not exist' });
  });
});

describe('time and routing', () => {
  it('never decides before the last event: a clock behind the log is moved up to it', () => {
    given([...openWithKeys(1), granted(meta('r1', T0 + HOUR), A, gw1, T0 + 2 * HOUR)])
      .when(acquire('r2', B, gw2), T0)
      .then([deniedAcquire(meta('r2', T0 + HOUR), 'no_available_licenses', expect.any(String), gw2, B)]);
  });

  it('throws on a command for another agreement (a routing bug) and on a non-finite time', () => {
    const state = stateAfter(AGREEMENT, openWithKeys(1));
    const foreign: LeaseCommand = { type: 'ExpireLocks', data: { agreementId: 'other' }, metadata: { requestId: 'x' } };
    expect(() => decide(foreign, state, T0)).toThrow(/routed to agreement "agreement-0042"/);
    expect(() => decide(expireLocks('x'), state, Number.NaN)).toThrow(/finite time/);
  });

  it('is deterministic: the same history, command and time give the same events', () => {
    const history = [...openWithKeys(2), granted(meta('r1', T0), A, gw1, T0 + HOUR), bound(meta('r2', T0), keyOf(7))];
    const first = decide(acquire('r3', B, holderOf(7)), stateAfter(AGREEMENT, history), T0 + 5);
    const second = decide(acquire('r3', B, holderOf(7)), stateAfter(AGREEMENT, history), T0 + 5);
    expect(second).toEqual(first);
  });
});
