import type {
  AcquireLock,
  BindKey,
  BindReservedKey,
  ChangeAgreement,
  CloseAgreement,
  ExpireLocks,
  LeaseCommand,
  OpenAgreement,
  ReleaseLock,
  RevokeKey,
} from './commands';
import type { EventMetadata, LeaseEvent, LockExpired, RequestDenied } from './events';
import { configHashOf, lockKeyOf, type LockKey } from './lock-key';
import {
  addHolder,
  holderCount,
  holdsLock,
  newLock,
  removeHolder,
  type AgreementState,
  type LockState,
} from './state';
import { DEFAULT_BOUNDS, type DenialReason, type EpochMs, type LockPeriodBounds } from './values';

/*
 * The pure decider of one agreement's lease ledger: `decide(command, state, now)` answers with the
 * events to append; `evolve(state, event)` applies one. Time and ids come in from the runtime.
 *
 * Assumptions the runtime guarantees (one decider cannot see them):
 * - A gateway key is bound to at most one agreement. This decider cannot know other agreements, so
 *   `BindKey` only records the request (KeyBindRequested); the key's own stream reserves the key
 *   (key-reservation.ts) and only then `BindReservedKey` binds it here. The runtime carries the
 *   follow-up commands between the streams (reactions.ts explains why that is race-free).
 * - Every request id is decided once: the runtime deduplicates retried requests and refuses requests
 *   whose time it can no longer remember (request-time.ts). One decision may still yield several
 *   events (LockExpired + LockGranted), all with the same request id and time.
 * - Commands reach the decider of the agreement they name; a mismatch is a routing bug and throws.
 */

export function clampPeriod(requestedMs: number | undefined, bounds: LockPeriodBounds): number {
  if (requestedMs === undefined || !Number.isFinite(requestedMs)) return bounds.defaultMs;
  return Math.min(bounds.maxMs, Math.max(bounds.minMs, Math.round(requestedMs)));
}

export function decide(command: LeaseCommand, state: AgreementState, now: EpochMs): LeaseEvent[] {
  if (command.data.agreementId !== state.agreementId) {
    throw new Error(`${command.type} for agreement "${command.data.agreementId}" was routed to agreement "${state.agreementId}"`);
  }
  if (!Number.isFinite(now)) throw new Error(`decide needs a finite time, got ${now}`);
  // Time never goes back within an agreement (e.g. a new partition owner with a slower clock).
  const metadata: EventMetadata = { requestId: command.metadata.requestId, at: Math.max(now, state.lastEventAt) };
  switch (command.type) {
    case 'OpenAgreement':
      return openAgreement(command, state, metadata);
    case 'ChangeAgreement':
      return changeAgreement(command, state, metadata);
    case 'CloseAgreement':
      return closeAgreement(command, state, metadata);
    case 'BindKey':
      return bindKey(command, state, metadata);
    case 'BindReservedKey':
      return bindReservedKey(command, state, metadata);
    case 'RevokeKey':
      return revokeKey(command, state, metadata);
    case 'AcquireLock':
      return acquireLock(command, state, metadata);
    case 'ReleaseLock':
      return releaseLock(command, state, metadata);
    case 'ExpireLocks':
      return expireLocks(command, state, metadata);
    default:
      return unreachable(command);
  }
}

/**
 * Applies one event to `state` IN PLACE and returns that same object (see `AgreementState` for
 * why). Tolerant of logs the decider would not write (e.g. a renewal of an unknown lock becomes a
 * grant) so a replay never stops; `checkInvariants` is where such logs are flagged.
 */
export function evolve(state: AgreementState, event: LeaseEvent): AgreementState {
  if (event.data.agreementId !== state.agreementId) {
    throw new Error(`${event.type} of agreement "${event.data.agreementId}" applied to agreement "${state.agreementId}"`);
  }
  if (event.metadata.at > state.lastEventAt) state.lastEventAt = event.metadata.at;
  switch (event.type) {
    case 'AgreementOpened':
    case 'AgreementChanged':
      if (event.type === 'AgreementOpened') state.status = 'open';
      state.name = event.data.name;
      state.licenses = event.data.licenses;
      state.bounds = event.data.bounds;
      return state;
    case 'AgreementClosed':
      state.status = 'closed';
      return state;
    case 'KeyBindRequested':
      return state;
    case 'KeyBound':
      state.keys.set(event.data.key, event.data.key);
      return state;
    case 'KeyRevoked':
      state.keys.delete(event.data.key);
      return state;
    case 'LockGranted': {
      const { holder } = event.data;
      state.locks.set(lockKeyOf(event.data.configHash), newLock(event.data.expiresAt, holder, state.keys.get(holder.key) ?? holder.key));
      return state;
    }
    case 'LockRenewed': {
      const { holder } = event.data;
      const sharedKey = state.keys.get(holder.key) ?? holder.key;
      const lockKey = lockKeyOf(event.data.configHash);
      const lock = state.locks.get(lockKey);
      if (!lock) {
        state.locks.set(lockKey, newLock(event.data.expiresAt, holder, sharedKey));
        return state;
      }
      if (event.data.expiresAt > lock.expiresAt) lock.expiresAt = event.data.expiresAt;
      addHolder(lock, holder, sharedKey);
      return state;
    }
    case 'LockReleased': {
      const lockKey = lockKeyOf(event.data.configHash);
      const lock = state.locks.get(lockKey);
      if (lock && removeHolder(lock, event.data.holder) === 0) state.locks.delete(lockKey);
      return state;
    }
    case 'LockExpired':
      state.locks.delete(lockKeyOf(event.data.configHash));
      return state;
    case 'RequestDenied':
      return state;
    default:
      return unreachable(event);
  }
}

// --- Ops commands ---

function openAgreement(command: OpenAgreement, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { agreementId, name, licenses } = command.data;
  if (state.status === 'open') return [invalid(command, metadata, `agreement "${agreementId}" is already open`)];
  if (state.status === 'closed') return [invalid(command, metadata, `agreement "${agreementId}" was closed; agreement ids are not reused`)];
  const bounds = mergeBounds(DEFAULT_BOUNDS, command.data.bounds);
  const problem = agreementProblem(name, licenses, bounds);
  if (problem) return [invalid(command, metadata, problem)];
  return [{ type: 'AgreementOpened', data: { agreementId, name, licenses, bounds }, metadata }];
}

function changeAgreement(command: ChangeAgreement, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const notOpen = notOpenProblem(state);
  if (notOpen) return [invalid(command, metadata, notOpen)];
  const name = command.data.name ?? state.name;
  const licenses = command.data.licenses ?? state.licenses;
  const bounds = mergeBounds(state.bounds, command.data.bounds);
  const problem = agreementProblem(name, licenses, bounds);
  if (problem) return [invalid(command, metadata, problem)];
  const unchanged =
    name === state.name &&
    licenses === state.licenses &&
    bounds.minMs === state.bounds.minMs &&
    bounds.maxMs === state.bounds.maxMs &&
    bounds.defaultMs === state.bounds.defaultMs;
  // Lowering licenses below the live locks is allowed: they stay until released or expired.
  return unchanged ? [] : [{ type: 'AgreementChanged', data: { agreementId: state.agreementId, name, licenses, bounds }, metadata }];
}

function closeAgreement(command: CloseAgreement, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const notOpen = notOpenProblem(state);
  if (notOpen) return [invalid(command, metadata, notOpen)];
  // Live locks are left to expire: tokens already issued stay valid until then, and cannot be renewed.
  return [{ type: 'AgreementClosed', data: { agreementId: state.agreementId }, metadata }];
}

function bindKey(command: BindKey, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { key } = command.data;
  const notOpen = notOpenProblem(state);
  if (notOpen) return [invalid(command, metadata, `cannot bind a key: ${notOpen}`, { key })];
  if (key.length === 0) return [invalid(command, metadata, 'the gateway key is empty', { key })];
  // Idempotent: binding a key that is already bound here records nothing and is accepted.
  if (state.keys.has(key)) return [];
  // Whether another agreement holds the key is the key's stream's to decide: ask it to reserve.
  return [{ type: 'KeyBindRequested', data: { agreementId: state.agreementId, key }, metadata }];
}

function bindReservedKey(command: BindReservedKey, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { key } = command.data;
  if (state.status !== 'open') {
    // Open when the bind was requested, closed since (an agreement never reopens): the denial's
    // reaction hands the reservation back.
    const why = state.status === 'closed' ? 'was closed' : 'does not exist';
    return [invalid(command, metadata, `cannot bind the key: agreement "${state.agreementId}" ${why} before the key was reserved for it`, { key })];
  }
  if (state.keys.has(key)) return [];
  return [{ type: 'KeyBound', data: { agreementId: state.agreementId, key }, metadata }];
}

function revokeKey(command: RevokeKey, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { key } = command.data;
  // Allowed on a closed agreement too, so ops can free the key for binding elsewhere.
  if (state.status === 'unopened') return [invalid(command, metadata, `agreement "${state.agreementId}" does not exist`, { key })];
  if (!state.keys.has(key)) return [invalid(command, metadata, `key is not bound to agreement "${state.agreementId}"`, { key })];
  // The key's live locks stay until they expire or are released; it can no longer renew them.
  return [{ type: 'KeyRevoked', data: { agreementId: state.agreementId, key }, metadata }];
}

// --- Gateway commands ---

function acquireLock(command: AcquireLock, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { agreementId, configHash, holder } = command.data;
  const now = metadata.at;
  if (state.status !== 'open') {
    const why = state.status === 'closed' ? 'is closed' : 'does not exist';
    return [denied(command, metadata, 'no_license_agreement', `agreement "${agreementId}" ${why}`, holder.key, configHash)];
  }
  if (!state.keys.has(holder.key)) {
    return [denied(command, metadata, 'no_license_agreement', `the gateway key is not bound to agreement "${agreementId}" (unknown or revoked)`, holder.key, configHash)];
  }
  const expiresAt = now + clampPeriod(command.data.requestedPeriodMs, state.bounds);
  const lockKey = lockKeyOf(configHash);
  const lock = state.locks.get(lockKey);
  if (lock && lock.expiresAt > now) {
    // Renew: the expiry never moves earlier; a holder not yet in the lock joins it.
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

function releaseLock(command: ReleaseLock, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const { agreementId, configHash, holder } = command.data;
  if (state.status === 'unopened') {
    return [denied(command, metadata, 'no_license_agreement', `agreement "${agreementId}" does not exist`, holder.key, configHash)];
  }
  // Releasing is allowed on a closed agreement and with a revoked key: it only ever frees a license.
  const lockKey = lockKeyOf(configHash);
  const lock = state.locks.get(lockKey);
  if (!lock) return []; // Nothing held (already released or expired): releasing again is a no-op.
  if (lock.expiresAt <= metadata.at) return [expired(agreementId, configHash, lock, metadata)];
  if (!holdsLock(lock, holder)) return [];
  return [{ type: 'LockReleased', data: { agreementId, configHash, holder, freed: holderCount(lock) === 1 }, metadata }];
}

function expireLocks(_command: ExpireLocks, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const events: LeaseEvent[] = [];
  for (const [lockKey, lock] of state.locks) {
    if (lock.expiresAt <= metadata.at) events.push(expired(state.agreementId, configHashOf(lockKey as LockKey), lock, metadata));
  }
  return events;
}

// --- Helpers ---

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

function mergeBounds(base: LockPeriodBounds, change: Partial<LockPeriodBounds> | undefined): LockPeriodBounds {
  if (!change) return base;
  return { minMs: change.minMs ?? base.minMs, maxMs: change.maxMs ?? base.maxMs, defaultMs: change.defaultMs ?? base.defaultMs };
}

function agreementProblem(name: string, licenses: number, bounds: LockPeriodBounds): string | undefined {
  if (name.trim().length === 0) return 'the agreement name is empty';
  if (!Number.isSafeInteger(licenses) || licenses < 0) return `licenses must be a non-negative integer, got ${licenses}`;
  const { minMs, defaultMs, maxMs } = bounds;
  for (const [field, value] of [['minMs', minMs], ['defaultMs', defaultMs], ['maxMs', maxMs]] as const) {
    if (!Number.isSafeInteger(value) || value <= 0) return `lock period bound ${field} must be a positive integer of milliseconds, got ${value}`;
  }
  if (!(minMs <= defaultMs && defaultMs <= maxMs)) {
    return `lock period bounds must satisfy minMs <= defaultMs <= maxMs, got minMs=${minMs}, defaultMs=${defaultMs}, maxMs=${maxMs}`;
  }
  return undefined;
}

function notOpenProblem(state: AgreementState): string | undefined {
  if (state.status === 'unopened') return `agreement "${state.agreementId}" does not exist`;
  if (state.status === 'closed') return `agreement "${state.agreementId}" is closed`;
  return undefined;
}

function invalid(command: LeaseCommand, metadata: EventMetadata, message: string, about: { key?: string } = {}): RequestDenied {
  return { type: 'RequestDenied', data: { agreementId: command.data.agreementId, reason: 'invalid_command', command: command.type, message, ...about }, metadata };
}

function denied(
  command: AcquireLock | ReleaseLock,
  metadata: EventMetadata,
  reason: DenialReason,
  message: string,
  key: string,
  configHash: string,
): RequestDenied {
  return { type: 'RequestDenied', data: { agreementId: command.data.agreementId, reason, command: command.type, message, key, configHash }, metadata };
}

export function unreachable(value: never): never {
  throw new Error(`unhandled case: ${JSON.stringify(value)}`);
}
