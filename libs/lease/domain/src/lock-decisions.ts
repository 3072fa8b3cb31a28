import type { AcquireLock, ExpireLocks, ForceReleaseLock, IssueSupportLock, ReleaseLock } from './commands';
import { denied, invalid } from './denials';
import type { EventMetadata, LeaseEvent, LockExpired } from './events';
import { configHashOf, lockKeyOf, type LockKey } from './lock-key';
import { forcedReleaseOf, holderCount, holdersOf, holdsLock, HeldLock, keptUntilAfterLastRelease, type AgreementState, type LockState } from './state';
import { SUPPORT_LOCK_MAX_MS, type EpochMs, type LockPeriodBounds } from './values';

/*
 * The decisions about locks (see decider.ts for the assumptions they rely on). A lock on a config
 * hash counts against the licenses while it is live (expiresAt > now), whatever its kind: held by
 * gateways, lingering after its last holder left, or issued by support.
 */

export function clampPeriod(requestedMs: number | undefined, bounds: LockPeriodBounds): number {
  if (requestedMs === undefined || !Number.isFinite(requestedMs)) return bounds.defaultMs;
  return Math.min(bounds.maxMs, Math.max(bounds.minMs, Math.round(requestedMs)));
}

export function acquireLock(command: AcquireLock, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { agreementId, configHash, holder } = command.data;
  const now = metadata.at;
  if (state.status !== 'open') {
    const why = state.status === 'closed' ? 'is closed' : 'does not exist';
    return [denied(command, metadata, 'no_license_agreement', `agreement "${agreementId}" ${why}`, holder.key, configHash)];
  }
  if (!state.keys.has(holder.key)) {
    return [denied(command, metadata, 'no_license_agreement', `the gateway key is not bound to agreement "${agreementId}" (unknown or revoked)`, holder.key, configHash)];
  }
  const forced = forcedReleaseOf(state, configHash, holder, now);
  if (forced) {
    // Only this process (its session) is stopped: a restarted gateway has a new session and may lock again.
    const message = `lock ${configHash} of agreement "${agreementId}" was released by operator ${forced.releasedBy}: ${forced.reason}`;
    return [denied(command, metadata, 'lock_released_by_operator', message, holder.key, configHash)];
  }
  const expiresAt = now + clampPeriod(command.data.requestedPeriodMs, state.bounds);
  const lock = state.locks.get(lockKeyOf(configHash));
  if (lock && lock.expiresAt > now) {
    // Renew (a lingering or support lock is taken up again): the expiry never moves earlier; a holder not yet in the lock joins it.
    return [{ type: 'LockRenewed', data: { agreementId, configHash, holder, expiresAt: Math.max(lock.expiresAt, expiresAt) }, metadata }];
  }
  // A lock past its expiry whose LockExpired is not yet written is recorded as expired first, in
  // this same decision, so the grant below never lands on a lock the log still shows as held.
  const events: LeaseEvent[] = lock ? [expired(agreementId, configHash, lock, metadata)] : [];
  const live = liveLocksAtCapacity(state, now);
  if (live >= state.licenses) {
    events.push(
      denied(command, metadata, 'no_available_licenses', `all ${state.licenses} licenses of agreement "${agreementId}" are held by live locks (${live})`, holder.key, configHash),
    );
    return events;
  }
  events.push({ type: 'LockGranted', data: { agreementId, configHash, holder, expiresAt }, metadata });
  return events;
}

export function releaseLock(command: ReleaseLock, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { agreementId, configHash, holder } = command.data;
  const now = metadata.at;
  if (state.status === 'unopened') {
    return [denied(command, metadata, 'no_license_agreement', `agreement "${agreementId}" does not exist`, holder.key, configHash)];
  }
  // Releasing is allowed on a closed agreement and with a revoked key: it only ever frees a license.
  const lock = state.locks.get(lockKeyOf(configHash));
  if (!(lock instanceof HeldLock) || lock.expiresAt <= now || !holdsLock(lock, holder)) {
    // Nothing changes, not even a due LockExpired: a refusal is only a refusal (ExpireLocks records expiries).
    const forced = forcedReleaseOf(state, configHash, holder, now);
    const why = forced ? `ops released it (${forced.releasedBy}: ${forced.reason})` : notHeldWhy(lock, now);
    return [denied(command, metadata, 'lock_not_held', `this gateway process does not hold lock ${configHash} of agreement "${agreementId}": ${why}`, holder.key, configHash)];
  }
  if (holderCount(lock) > 1) return [{ type: 'LockReleased', data: { agreementId, configHash, holder, freed: false }, metadata }];
  const keptUntil = keptUntilAfterLastRelease(lock, now, state.lingerMs);
  return [{ type: 'LockReleased', data: { agreementId, configHash, holder, freed: keptUntil === undefined, ...(keptUntil === undefined ? {} : { keptUntil }) }, metadata }];
}

function notHeldWhy(lock: LockState | undefined, now: EpochMs): string {
  if (!lock || lock.expiresAt <= now) return 'no live lock on that config hash (released, expired, or never acquired)';
  switch (lock.kind) {
    case 'held':
      return 'other gateway processes hold it';
    case 'lingering':
      return 'it was released already and only lingers';
    case 'support':
      return 'support issued it; no gateway process has renewed it';
    default: {
      const unknown: never = lock;
      return String(unknown);
    }
  }
}

export function issueSupportLock(command: IssueSupportLock, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { agreementId, configHash, key, until, reason, issuedBy, overdraft } = command.data;
  const now = metadata.at;
  const about = { key, configHash };
  if (state.status !== 'open') return [invalid(command, metadata, `agreement "${agreementId}" ${state.status === 'closed' ? 'is closed' : 'does not exist'}`, about)];
  if (!state.keys.has(key)) return [invalid(command, metadata, `the gateway key is not bound to agreement "${agreementId}"`, about)];
  if (reason.trim() === '' || issuedBy.trim() === '') return [invalid(command, metadata, 'a support lock needs a reason and who issued it', about)];
  if (!Number.isSafeInteger(until) || until <= now) return [invalid(command, metadata, `until (${until}) must be a time in the future`, about)];
  if (until - now > SUPPORT_LOCK_MAX_MS) {
    return [invalid(command, metadata, `until is ${Math.ceil((until - now) / 86_400_000)} days away; a support lock runs at most ${SUPPORT_LOCK_MAX_MS / 86_400_000} days`, about)];
  }
  const lock = state.locks.get(lockKeyOf(configHash));
  const data = { agreementId, configHash, key, until, issuedBy, reason };
  // On a live lock of the same hash the license is already counted: the grant only keeps it longer.
  if (lock && lock.expiresAt > now) return [{ type: 'SupportLockIssued', data: { ...data, overdraft: false }, metadata }];
  const events: LeaseEvent[] = lock ? [expired(agreementId, configHash, lock, metadata)] : [];
  const live = liveLocksAtCapacity(state, now);
  if (live >= state.licenses && !overdraft) {
    const message = `all ${state.licenses} licenses of agreement "${agreementId}" are held by live locks (${live}); issue with overdraft to exceed them`;
    events.push(denied(command, metadata, 'no_available_licenses', message, key, configHash));
    return events;
  }
  events.push({ type: 'SupportLockIssued', data: { ...data, overdraft: live >= state.licenses }, metadata });
  return events;
}

export function forceReleaseLock(command: ForceReleaseLock, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { agreementId, configHash, reason, releasedBy } = command.data;
  if (state.status === 'unopened') return [invalid(command, metadata, `agreement "${agreementId}" does not exist`, { configHash })];
  if (reason.trim() === '' || releasedBy.trim() === '') return [invalid(command, metadata, 'a forced release needs a reason and who released it', { configHash })];
  // Allowed on a closed agreement too: it only frees.
  const lock = state.locks.get(lockKeyOf(configHash));
  if (!lock || lock.expiresAt <= metadata.at) {
    return [denied(command, metadata, 'lock_not_held', `agreement "${agreementId}" has no live lock on config hash ${configHash}`, undefined, configHash)];
  }
  return [{ type: 'LockForceReleased', data: { agreementId, configHash, holders: holdersOf(lock), expiresAt: lock.expiresAt, releasedBy, reason }, metadata }];
}

export function expireLocks(_command: ExpireLocks, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const events: LeaseEvent[] = [];
  for (const [lockKey, lock] of state.locks) {
    if (lock.expiresAt <= metadata.at) events.push(expired(state.agreementId, configHashOf(lockKey as LockKey), lock, metadata));
  }
  return events;
}

/**
 * Live locks, counted only when it matters: while fewer locks are recorded than there are licenses
 * (expired ones included) a new lock fits, so the common case costs no scan.
 */
function liveLocksAtCapacity(state: AgreementState, now: EpochMs): number {
  if (state.locks.size < state.licenses) return state.locks.size;
  let live = 0;
  for (const lock of state.locks.values()) if (lock.expiresAt > now) live++;
  return live;
}

function expired(agreementId: string, configHash: string, lock: LockState, metadata: EventMetadata): LockExpired {
  return { type: 'LockExpired', data: { agreementId, configHash, expiredAt: lock.expiresAt }, metadata };
}
