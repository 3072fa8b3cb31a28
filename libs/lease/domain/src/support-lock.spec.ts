import { lockOf, liveLockCount, nextExpiry } from './state';
import { given, stateAfter } from './testing/given-when-then';
import {
  acquire,
  AGREEMENT,
  closed,
  deniedAcquire,
  deniedOps,
  expired,
  granted,
  hashOf,
  holderOf,
  HOUR,
  issueSupport,
  keyOf,
  meta,
  MINUTE,
  openWithKeys,
  release,
  released,
  renewed,
  revoked,
  supportIssued,
  T0,
} from './testing/fixtures';
import { DEFAULT_BOUNDS, SUPPORT_LOCK_MAX_MS } from './values';

const A = hashOf(0xa1);
const B = hashOf(0xb2);
const C = hashOf(0xc3);
const gw1 = holderOf(1);
const gw2 = holderOf(2);
const DAY = 24 * HOUR;
const at = (ms: number) => meta('s1', T0 + ms);

describe('support-issued locks', () => {
  it('are decided like a lock: recorded with who, why and until when, and they count against the licenses', () => {
    const when = given(openWithKeys(1)).when(issueSupport('s1', A, keyOf(1), T0 + 3 * DAY), T0);
    when.then([supportIssued(at(0), A, keyOf(1), T0 + 3 * DAY)]);
    expect(when.outcome()).toEqual({ kind: 'granted', configHash: A, expiresAt: T0 + 3 * DAY, renewed: false, overdraft: false });
    expect(lockOf(when.state(), A)).toEqual({
      configHash: A,
      kind: 'support',
      expiresAt: T0 + 3 * DAY,
      holders: [],
      support: { key: keyOf(1), until: T0 + 3 * DAY, issuedBy: 'alice@support', reason: 'ingress unreachable from site B', overdraft: false },
    });
    expect(liveLockCount(when.state(), T0 + 3 * DAY - 1)).toBe(1);
    expect(nextExpiry(when.state())).toBe(T0 + 3 * DAY);
    // The license is taken: another hash is refused.
    given([...openWithKeys(1), ...when.events]).when(acquire('r2', B, gw2), T0 + HOUR).then([deniedAcquire(meta('r2', T0 + HOUR), 'no_available_licenses', expect.any(String), gw2, B)]);
  });

  it('are refused when the licenses are full, unless overdraft is allowed; then the excess is recorded', () => {
    const full = [...openWithKeys(1), granted(meta('r1', T0), B, gw2, T0 + HOUR)];
    given(full)
      .when(issueSupport('s1', A, keyOf(1), T0 + DAY), T0)
      .then([deniedOps(at(0), 'IssueSupportLock', 'no_available_licenses', expect.stringContaining('issue with overdraft to exceed them'), A, keyOf(1))]);
    const overdraft = given(full).when(issueSupport('s1', A, keyOf(1), T0 + DAY, { overdraft: true }), T0);
    overdraft.then([supportIssued(at(0), A, keyOf(1), T0 + DAY, { overdraft: true })]);
    expect(overdraft.outcome()).toMatchObject({ kind: 'granted', overdraft: true });
    expect(liveLockCount(overdraft.state(), T0)).toBe(2);
  });

  it('with overdraft allowed but licenses free, are not recorded as overdraft', () => {
    given(openWithKeys(2)).when(issueSupport('s1', A, keyOf(1), T0 + DAY, { overdraft: true }), T0).then([supportIssued(at(0), A, keyOf(1), T0 + DAY, { overdraft: false })]);
  });

  it('on a live lock of the same hash take no second license and keep the lock at least until `until`', () => {
    const held = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)];
    const when = given(held).when(issueSupport('s1', A, keyOf(1), T0 + 2 * DAY), T0 + MINUTE);
    when.then([supportIssued(at(MINUTE), A, keyOf(1), T0 + 2 * DAY)]);
    expect(lockOf(when.state(), A)).toMatchObject({ kind: 'held', expiresAt: T0 + 2 * DAY, holders: [gw1], support: { until: T0 + 2 * DAY } });
    expect(liveLockCount(when.state(), T0 + MINUTE)).toBe(1);
  });

  it('never shorten a live lock that runs longer than `until`', () => {
    const held = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + 5 * DAY)];
    const when = given(held).when(issueSupport('s1', A, keyOf(1), T0 + DAY), T0);
    expect(lockOf(when.state(), A)).toMatchObject({ kind: 'held', expiresAt: T0 + 5 * DAY });
  });

  it('are recorded as expired first when they land on an expired, unrecorded lock', () => {
    const lapsed = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)];
    given(lapsed)
      .when(issueSupport('s1', A, keyOf(1), T0 + DAY), T0 + 2 * HOUR)
      .then([expired(at(2 * HOUR), A, T0 + HOUR), supportIssued(at(2 * HOUR), A, keyOf(1), T0 + DAY)]);
  });

  it('are taken up by the gateway when it can renew again: it joins the lock, which stays at least until `until`', () => {
    const issued = [...openWithKeys(1), supportIssued(meta('s1', T0), A, keyOf(1), T0 + 3 * DAY)];
    const renewal = given(issued).when(acquire('r2', A, gw1, HOUR), T0 + DAY);
    renewal.then([renewed(meta('r2', T0 + DAY), A, gw1, T0 + 3 * DAY)]);
    expect(lockOf(renewal.state(), A)).toMatchObject({ kind: 'held', holders: [gw1], support: { until: T0 + 3 * DAY } });
    // Its release does not free the license while the support token is valid: the lock stays until then.
    const history = [...issued, ...renewal.events];
    const leaving = given(history).when(release('r3', A, gw1), T0 + DAY + MINUTE);
    leaving.then([released(meta('r3', T0 + DAY + MINUTE), A, gw1, false, T0 + 3 * DAY)]);
    expect(lockOf(leaving.state(), A)).toMatchObject({ kind: 'support', expiresAt: T0 + 3 * DAY, holders: [] });
    expect(leaving.outcome()).toEqual({ kind: 'released', configHash: A, freed: false, keptUntil: T0 + 3 * DAY });
  });

  it('are not released by a gateway, which holds nothing of them', () => {
    given([...openWithKeys(1), supportIssued(meta('s1', T0), A, keyOf(1), T0 + DAY)])
      .when(release('r2', A, gw1), T0 + HOUR)
      .then([deniedAcquire(meta('r2', T0 + HOUR), 'lock_not_held', expect.stringContaining('support issued it'), gw1, A, 'ReleaseLock')]);
  });

  it('end at `until`: ExpireLocks records them, and the license is free again', () => {
    const issued = [...openWithKeys(1), supportIssued(meta('s1', T0), A, keyOf(1), T0 + DAY)];
    given(issued).when({ type: 'ExpireLocks', data: { agreementId: AGREEMENT }, metadata: { requestId: 'x1' } }, T0 + DAY).then([expired(meta('x1', T0 + DAY), A, T0 + DAY)]);
    given(issued).when(acquire('r2', C, gw2), T0 + DAY).then([granted(meta('r2', T0 + DAY), C, gw2, T0 + DAY + DEFAULT_BOUNDS.defaultMs)]);
  });

  it.each([
    ['`until` now', T0, {}, /until .* must be a time in the future/],
    ['`until` in the past', T0 - 1, {}, /must be a time in the future/],
    ['`until` beyond 30 days', T0 + SUPPORT_LOCK_MAX_MS + 1, {}, /31 days away; a support lock runs at most 30 days/],
    ['an empty reason', T0 + DAY, { reason: ' ' }, /needs a reason and who issued it/],
    ['no issuer', T0 + DAY, { issuedBy: '' }, /needs a reason and who issued it/],
  ])('are refused with %s', (_label, until, notes, message) => {
    given(openWithKeys(1)).when(issueSupport('s1', A, keyOf(1), until, notes), T0).then([deniedOps(at(0), 'IssueSupportLock', 'invalid_command', expect.stringMatching(message), A, keyOf(1))]);
  });

  it('may run exactly 30 days', () => {
    given(openWithKeys(1)).when(issueSupport('s1', A, keyOf(1), T0 + SUPPORT_LOCK_MAX_MS), T0).then([supportIssued(at(0), A, keyOf(1), T0 + SUPPORT_LOCK_MAX_MS)]);
  });

  it('are refused for a key not bound to the agreement, and on a closed or unknown agreement', () => {
    const refused = (history: Parameters<typeof given>[0], key: string, message: RegExp) =>
      given(history).when(issueSupport('s1', A, key, T0 + DAY), T0).then([deniedOps(at(0), 'IssueSupportLock', 'invalid_command', expect.stringMatching(message), A, key)]);
    refused(openWithKeys(1), keyOf(9), /key is not bound/);
    refused([...openWithKeys(1), revoked(meta('r1', T0), keyOf(1))], keyOf(1), /key is not bound/);
    refused([...openWithKeys(1), closed(meta('r1', T0))], keyOf(1), /is closed/);
    refused([], keyOf(1), /does not exist/);
  });

  it('keep the longer of two grants on one hash', () => {
    const first = [...openWithKeys(1), supportIssued(meta('s1', T0), A, keyOf(1), T0 + 5 * DAY, { reason: 'first' })];
    const shorter = given(first).when(issueSupport('s2', A, keyOf(1), T0 + DAY, { reason: 'second' }), T0 + HOUR);
    expect(lockOf(shorter.state(), A)).toMatchObject({ kind: 'support', expiresAt: T0 + 5 * DAY, support: { reason: 'first' } });
    expect(lockOf(stateAfter(AGREEMENT, first), A)?.support?.reason).toBe('first');
  });
});
