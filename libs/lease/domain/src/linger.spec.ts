import type { LeaseCommand } from './commands';
import type { LeaseEvent } from './events';
import { lockOf, liveLockCount, nextExpiry } from './state';
import { given, stateAfter } from './testing/given-when-then';
import {
  acquire,
  AGREEMENT,
  changed,
  deniedAcquire,
  expired,
  granted,
  hashOf,
  holderOf,
  HOUR,
  meta,
  MINUTE,
  opened,
  openWithKeys,
  release,
  released,
  renewed,
  T0,
} from './testing/fixtures';
import { DEFAULT_BOUNDS } from './values';

const A = hashOf(0xa1);
const B = hashOf(0xb2);
const gw1 = holderOf(1);
const gw2 = holderOf(2);
const LINGER = 10 * MINUTE;
const DEFAULT = DEFAULT_BOUNDS.defaultMs;

const open = (lingerMs?: number): LeaseCommand => ({
  type: 'OpenAgreement',
  data: { agreementId: AGREEMENT, name: 'Acme Trading', licenses: 1, ...(lingerMs === undefined ? {} : { lingerMs }) },
  metadata: { requestId: 'r-open' },
});
const changeLinger = (lingerMs: number): LeaseCommand => ({ type: 'ChangeAgreement', data: { agreementId: AGREEMENT, lingerMs }, metadata: { requestId: 'r-change' } });

describe('the agreement option linger', () => {
  it('defaults to 0 and is written into the agreement only when set', () => {
    given([]).when(open(), T0).then([opened(meta('r-open', T0), 1)]);
    given([]).when(open(LINGER), T0).then([opened(meta('r-open', T0), 1, DEFAULT_BOUNDS, 'Acme Trading', LINGER)]);
  });

  it('changes alone, back to 0 too, and a change to the same value writes nothing', () => {
    given(openWithKeys(1)).when(changeLinger(LINGER), T0).then([changed(meta('r-change', T0), 1, DEFAULT_BOUNDS, 'Acme Trading', LINGER)]);
    given(openWithKeys(1, 3, DEFAULT_BOUNDS, LINGER)).when(changeLinger(0), T0).then([changed(meta('r-change', T0), 1)]);
    given(openWithKeys(1, 3, DEFAULT_BOUNDS, LINGER)).when(changeLinger(LINGER), T0).then([]);
  });

  it.each([[-1], [1.5], [Number.NaN]])('refuses linger %p', (lingerMs) => {
    const when = given([]).when(open(lingerMs), T0);
    expect(when.outcome()).toEqual({ kind: 'denied', reason: 'invalid_command', message: `linger must be a non-negative integer of milliseconds, got ${lingerMs}` });
  });
});

describe('releasing with linger', () => {
  const held = [...openWithKeys(1, 3, DEFAULT_BOUNDS, LINGER), granted(meta('r1', T0), A, gw1, T0 + HOUR)];

  it('the last holder leaves, but the lock stays counted until release + linger', () => {
    const when = given(held).when(release('r2', A, gw1), T0 + MINUTE);
    when.then([released(meta('r2', T0 + MINUTE), A, gw1, false, T0 + MINUTE + LINGER)]);
    expect(when.outcome()).toEqual({ kind: 'released', configHash: A, freed: false, keptUntil: T0 + MINUTE + LINGER });
    expect(lockOf(when.state(), A)).toEqual({ configHash: A, kind: 'lingering', expiresAt: T0 + MINUTE + LINGER, holders: [], releasedAt: T0 + MINUTE });
    expect(nextExpiry(when.state())).toBe(T0 + MINUTE + LINGER);
  });

  it('another hash is refused while the lingering lock fills the licenses, and granted once the linger is over', () => {
    const lingering = [...held, released(meta('r2', T0 + MINUTE), A, gw1, false, T0 + MINUTE + LINGER)];
    given(lingering)
      .when(acquire('r3', B, gw2), T0 + MINUTE + LINGER - 1)
      .then([deniedAcquire(meta('r3', T0 + MINUTE + LINGER - 1), 'no_available_licenses', expect.any(String), gw2, B)]);
    expect(liveLockCount(stateAfter(AGREEMENT, lingering), T0 + MINUTE + LINGER - 1)).toBe(1);
    expect(liveLockCount(stateAfter(AGREEMENT, lingering), T0 + MINUTE + LINGER)).toBe(0);
    given(lingering).when(acquire('r3', B, gw2), T0 + MINUTE + LINGER).then([granted(meta('r3', T0 + MINUTE + LINGER), B, gw2, T0 + MINUTE + LINGER + DEFAULT)]);
  });

  it('the same hash re-acquiring during the linger gets the lock back as a renewal', () => {
    const lingering = [...held, released(meta('r2', T0 + MINUTE), A, gw1, false, T0 + MINUTE + LINGER)];
    const restarted = holderOf(1, { processId: 4242, sessionId: 'after-restart' });
    const when = given(lingering).when(acquire('r3', A, restarted, HOUR), T0 + 2 * MINUTE);
    when.then([renewed(meta('r3', T0 + 2 * MINUTE), A, restarted, T0 + 2 * MINUTE + HOUR)]);
    expect(when.outcome()).toEqual({ kind: 'granted', configHash: A, expiresAt: T0 + 2 * MINUTE + HOUR, renewed: true });
    expect(lockOf(when.state(), A)).toMatchObject({ kind: 'held', holders: [restarted] });
  });

  it('never lingers past the lock’s expiry', () => {
    given(held).when(release('r2', A, gw1), T0 + HOUR - MINUTE).then([released(meta('r2', T0 + HOUR - MINUTE), A, gw1, false, T0 + HOUR)]);
  });

  it('without linger the last release frees the license at once', () => {
    const noLinger = [...openWithKeys(1), granted(meta('r1', T0), A, gw1, T0 + HOUR)];
    const when = given(noLinger).when(release('r2', A, gw1), T0 + MINUTE);
    when.then([released(meta('r2', T0 + MINUTE), A, gw1, true)]);
    expect(lockOf(when.state(), A)).toBeUndefined();
  });

  it('a holder leaving a shared lock is no last release: no linger', () => {
    const shared = [...held, renewed(meta('r2', T0), A, gw2, T0 + HOUR)];
    given(shared).when(release('r3', A, gw1), T0 + MINUTE).then([released(meta('r3', T0 + MINUTE), A, gw1, false)]);
  });

  it('a lingering lock is not released again: lock_not_held', () => {
    const lingering = [...held, released(meta('r2', T0 + MINUTE), A, gw1, false, T0 + MINUTE + LINGER)];
    given(lingering)
      .when(release('r3', A, gw1), T0 + 2 * MINUTE)
      .then([deniedAcquire(meta('r3', T0 + 2 * MINUTE), 'lock_not_held', expect.stringContaining('only lingers'), gw1, A, 'ReleaseLock')]);
  });

  it('ExpireLocks records the end of the linger', () => {
    const lingering = [...held, released(meta('r2', T0 + MINUTE), A, gw1, false, T0 + MINUTE + LINGER)];
    given(lingering)
      .when({ type: 'ExpireLocks', data: { agreementId: AGREEMENT }, metadata: { requestId: 'x1' } }, T0 + MINUTE + LINGER)
      .then([expired(meta('x1', T0 + MINUTE + LINGER), A, T0 + MINUTE + LINGER)]);
  });

  it('quick release/lock churn gains nothing: a second gateway never gets in between', () => {
    // gw1 releases and re-locks every minute; gw2 with another hash asks in between and is always refused.
    let history: LeaseEvent[] = [...held];
    for (let minute = 1; minute <= 5; minute++) {
      const now = T0 + minute * MINUTE;
      const releasing = given(history).when(release(`rel-${minute}`, A, gw1), now);
      history = [...history, ...releasing.events];
      given(history).when(acquire(`other-${minute}`, B, gw2), now).then([deniedAcquire(meta(`other-${minute}`, now), 'no_available_licenses', expect.any(String), gw2, B)]);
      history = [...history, ...given(history).when(acquire(`again-${minute}`, A, gw1, HOUR), now).events];
    }
    expect(history.filter((event) => event.type === 'LockReleased').map((event) => event.type === 'LockReleased' && event.data.freed)).toEqual([false, false, false, false, false]);
  });
});
