import type { LockForceReleased, LockGranted, LockReleased, LockRenewed, SupportLockIssued } from './events';
import { lockKeyOf } from './lock-key';
import { addHolder, HeldLock, LingeringLock, longerGrant, newLock, removeHolder, supportOf, SupportLock, type AgreementState } from './state';
import type { SupportGrant } from './values';

/*
 * How lock events change an agreement's state, in place (see `evolve`). Tolerant of logs the decider
 * would not write, so a replay never stops; `checkInvariants` is where such logs are flagged.
 */

export function applyGranted(state: AgreementState, event: LockGranted): void {
  const { holder } = event.data;
  state.locks.set(lockKeyOf(event.data.configHash), newLock(event.data.expiresAt, holder, state.keys.get(holder.key) ?? holder.key));
}

/** A renewal of a live lock; a lingering or support lock becomes held again (keeping its support grant). */
export function applyRenewed(state: AgreementState, event: LockRenewed): void {
  const { holder } = event.data;
  const sharedKey = state.keys.get(holder.key) ?? holder.key;
  const lockKey = lockKeyOf(event.data.configHash);
  const lock = state.locks.get(lockKey);
  if (lock instanceof HeldLock) {
    if (event.data.expiresAt > lock.expiresAt) lock.expiresAt = event.data.expiresAt;
    addHolder(lock, holder, sharedKey);
    return;
  }
  const expiresAt = lock ? Math.max(lock.expiresAt, event.data.expiresAt) : event.data.expiresAt;
  state.locks.set(lockKey, newLock(expiresAt, holder, sharedKey, lock && supportOf(lock)));
}

/** A holder left; without holders the lock is dropped, or kept until `keptUntil` (lingering, or by its support grant). */
export function applyReleased(state: AgreementState, event: LockReleased): void {
  const lockKey = lockKeyOf(event.data.configHash);
  const lock = state.locks.get(lockKey);
  if (!(lock instanceof HeldLock) || removeHolder(lock, event.data.holder) > 0) return;
  const { keptUntil } = event.data;
  if (keptUntil === undefined) state.locks.delete(lockKey);
  else if (lock.support && lock.support.until > event.metadata.at) state.locks.set(lockKey, new SupportLock(keptUntil, lock.support));
  else state.locks.set(lockKey, new LingeringLock(keptUntil, event.metadata.at));
}

export function applySupportIssued(state: AgreementState, event: SupportLockIssued): void {
  const { key, until, issuedBy, reason, overdraft } = event.data;
  const grant: SupportGrant = { key: state.keys.get(key) ?? key, until, issuedBy, reason, overdraft };
  const lockKey = lockKeyOf(event.data.configHash);
  const lock = state.locks.get(lockKey);
  if (!lock || lock.expiresAt <= event.metadata.at) {
    state.locks.set(lockKey, new SupportLock(until, grant));
    return;
  }
  const expiresAt = Math.max(lock.expiresAt, until);
  switch (lock.kind) {
    case 'held':
      lock.expiresAt = expiresAt;
      lock.support = longerGrant(lock.support, grant);
      return;
    case 'support':
      state.locks.set(lockKey, new SupportLock(expiresAt, longerGrant(lock.grant, grant)));
      return;
    case 'lingering':
      state.locks.set(lockKey, new SupportLock(expiresAt, grant));
      return;
    default: {
      const unknown: never = lock;
      throw new Error(`unknown lock ${JSON.stringify(unknown)}`);
    }
  }
}

/** The lock is gone at once; its holders are remembered (and refused) until its old expiry. */
export function applyForceReleased(state: AgreementState, event: LockForceReleased): void {
  const lockKey = lockKeyOf(event.data.configHash);
  state.locks.delete(lockKey);
  const { holders, expiresAt, releasedBy, reason } = event.data;
  if (holders.length === 0 || expiresAt <= event.metadata.at) return;
  const earlier = state.forcedReleases.get(lockKey);
  // A second forced release of the hash keeps refusing the first one's holders too.
  const remembered = earlier && earlier.until > event.metadata.at ? earlier.holders : [];
  state.forcedReleases.set(lockKey, { until: Math.max(expiresAt, earlier?.until ?? 0), holders: [...remembered, ...holders], releasedBy, reason });
}

/** Drops forced releases whose holders' tokens have expired by `at` (cheap: there are usually none). */
export function forgetPastForcedReleases(state: AgreementState, at: number): void {
  if (state.forcedReleases.size === 0) return;
  for (const [lockKey, forced] of state.forcedReleases) if (forced.until <= at) state.forcedReleases.delete(lockKey);
}
