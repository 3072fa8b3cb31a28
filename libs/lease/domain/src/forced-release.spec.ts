import { forcedReleaseOf, lockOf, liveLockCount } from './state';
import { given, stateAfter } from './testing/given-when-then';
import {
  acquire,
  AGREEMENT,
  closed,
  deniedAcquire,
  deniedOps,
  forceRelease,
  forceReleased,
  granted,
  hashOf,
  holderOf,
  HOUR,
  keyOf,
  meta,
  MINUTE,
  openWithKeys,
  release,
  released,
  renewed,
  supportIssued,
  T0,
} from './testing/fixtures';
import { DEFAULT_BOUNDS } from './values';

const A = hashOf(0xa1);
const B = hashOf(0xb2);
const gw1 = holderOf(1);
const gw2 = holderOf(2);
const gw3 = holderOf(3);
const LINGER = 10 * MINUTE;

describe('forced release by ops', () => {
  const shared = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR), renewed(meta('r2', T0), A, gw2, T0 + 2 * HOUR)];
  const forced = [...shared, forceReleased(meta('f1', T0 + MINUTE), A, [gw1, gw2], T0 + 2 * HOUR)];

  it('is recorded with who and why, and frees the license at once', () => {
    const when = given(shared).when(forceRelease('f1', A), T0 + MINUTE);
    when.then([forceReleased(meta('f1', T0 + MINUTE), A, [gw1, gw2], T0 + 2 * HOUR)]);
    expect(when.outcome()).toEqual({ kind: 'released', configHash: A, freed: true });
    expect(lockOf(when.state(), A)).toBeUndefined();
    expect(liveLockCount(when.state(), T0 + MINUTE)).toBe(0);
    given(forced).when(acquire('r3', B, gw3), T0 + 2 * MINUTE).then([granted(meta('r3', T0 + 2 * MINUTE), B, gw3, T0 + 2 * MINUTE + DEFAULT_BOUNDS.defaultMs)]);
  });

  it("ignores linger: the license is free at once even when the agreement lingers", () => {
    const lingering = [...openWithKeys(1, 3, DEFAULT_BOUNDS, LINGER), granted(meta('r1', T0), A, gw1, T0 + HOUR)];
    const when = given(lingering).when(forceRelease('f1', A), T0 + MINUTE);
    when.then([forceReleased(meta('f1', T0 + MINUTE), A, [gw1], T0 + HOUR)]);
    expect(liveLockCount(when.state(), T0 + MINUTE)).toBe(0);
  });

  it("refuses each former holder's next renewal, with the operator's reason in the message", () => {
    const when = given(forced).when(acquire('r3', A, gw1, HOUR), T0 + 30 * MINUTE);
    when.then([deniedAcquire(meta('r3', T0 + 30 * MINUTE), 'lock_released_by_operator', `lock ${A} of agreement "${AGREEMENT}" was released by operator bob@ops: config replaced`, gw1, A)]);
    expect(when.outcome()).toMatchObject({ kind: 'denied', reason: 'lock_released_by_operator', message: expect.stringContaining('config replaced') });
    given(forced).when(acquire('r3', A, gw2, HOUR), T0 + 30 * MINUTE).then([deniedAcquire(meta('r3', T0 + 30 * MINUTE), 'lock_released_by_operator', expect.any(String), gw2, A)]);
  });

  it('lets a new session of the same gateway (a restart) acquire normally', () => {
    const restarted = holderOf(1, { processId: 5555, sessionId: 'new-session' });
    given(forced).when(acquire('r3', A, restarted, HOUR), T0 + 30 * MINUTE).then([granted(meta('r3', T0 + 30 * MINUTE), A, restarted, T0 + 90 * MINUTE)]);
  });

  it('keeps refusing the old session even after a new session took the hash again', () => {
    const retaken = [...forced, granted(meta('r3', T0 + 5 * MINUTE), A, gw3, T0 + HOUR)];
    given(retaken).when(acquire('r4', A, gw1, HOUR), T0 + 10 * MINUTE).then([deniedAcquire(meta('r4', T0 + 10 * MINUTE), 'lock_released_by_operator', expect.any(String), gw1, A)]);
  });

  it("forgets the former holders once the freed lock would have expired (their tokens are void by then)", () => {
    expect(forcedReleaseOf(stateAfter(AGREEMENT, forced), A, gw1, T0 + 2 * HOUR - 1)).toBeDefined();
    given(forced).when(acquire('r3', A, gw1, HOUR), T0 + 2 * HOUR).then([granted(meta('r3', T0 + 2 * HOUR), A, gw1, T0 + 3 * HOUR)]);
    const later = given([...forced, granted(meta('r3', T0 + 3 * HOUR), B, gw3, T0 + 4 * HOUR)]).when(acquire('r4', B, gw3), T0 + 3 * HOUR);
    expect(later.state().forcedReleases.size).toBe(0);
  });

  it("answers the former holder's release with lock_not_held, naming the operator", () => {
    given(forced)
      .when(release('r3', A, gw1), T0 + 2 * MINUTE)
      .then([deniedAcquire(meta('r3', T0 + 2 * MINUTE), 'lock_not_held', expect.stringContaining('ops released it (bob@ops: config replaced)'), gw1, A, 'ReleaseLock')]);
  });

  it('frees a support lock and a lingering lock too (no holders to refuse)', () => {
    const support = [...openWithKeys(1), supportIssued(meta('s1', T0), A, keyOf(1), T0 + 24 * HOUR)];
    given(support).when(forceRelease('f1', A), T0 + HOUR).then([forceReleased(meta('f1', T0 + HOUR), A, [], T0 + 24 * HOUR)]);
    const lingering = [...openWithKeys(1, 3, DEFAULT_BOUNDS, LINGER), granted(meta('r1', T0), A, gw1, T0 + HOUR), released(meta('r2', T0), A, gw1, false, T0 + LINGER)];
    const when = given(lingering).when(forceRelease('f1', A), T0 + MINUTE);
    when.then([forceReleased(meta('f1', T0 + MINUTE), A, [], T0 + LINGER)]);
    expect(when.state().forcedReleases.size).toBe(0);
  });

  it('works on a closed agreement (it only frees)', () => {
    given([...shared, closed(meta('c1', T0))]).when(forceRelease('f1', A), T0 + MINUTE).then([forceReleased(meta('f1', T0 + MINUTE), A, [gw1, gw2], T0 + 2 * HOUR)]);
  });

  it('is denied lock_not_held for a hash without a live lock, and changes nothing', () => {
    given(shared)
      .when(forceRelease('f1', B), T0 + MINUTE)
      .then([deniedOps(meta('f1', T0 + MINUTE), 'ForceReleaseLock', 'lock_not_held', `agreement "${AGREEMENT}" has no live lock on config hash ${B}`, B)]);
    given(shared).when(forceRelease('f1', A), T0 + 2 * HOUR).then([deniedOps(meta('f1', T0 + 2 * HOUR), 'ForceReleaseLock', 'lock_not_held', expect.any(String), A)]);
  });

  it('is invalid without a reason or an operator, and on an unknown agreement', () => {
    given(shared).when(forceRelease('f1', A, ''), T0).then([deniedOps(meta('f1', T0), 'ForceReleaseLock', 'invalid_command', 'a forced release needs a reason and who released it', A)]);
    given(shared).when(forceRelease('f1', A, 'why', ' '), T0).then([deniedOps(meta('f1', T0), 'ForceReleaseLock', 'invalid_command', expect.any(String), A)]);
    given([]).when(forceRelease('f1', A), T0).then([deniedOps(meta('f1', T0), 'ForceReleaseLock', 'invalid_command', `agreement "${AGREEMENT}" does not exist`, A)]);
  });
});
