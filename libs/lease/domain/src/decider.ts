import type { BindKey, BindReservedKey, ChangeAgreement, CloseAgreement, LeaseCommand, OpenAgreement, RevokeKey } from './commands';
import { invalid, unreachable } from './denials';
import type { EventMetadata, LeaseEvent } from './events';
import { acquireLock, clampPeriod, expireLocks, forceReleaseLock, issueSupportLock, releaseLock } from './lock-decisions';
import { applyForceReleased, applyGranted, applyReleased, applyRenewed, applySupportIssued, forgetPastForcedReleases } from './lock-evolution';
import { lockKeyOf } from './lock-key';
import type { AgreementState } from './state';
import { DEFAULT_BOUNDS, type EpochMs, type LockPeriodBounds } from './values';

export { clampPeriod, unreachable };

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
    case 'IssueSupportLock':
      return issueSupportLock(command, state, metadata);
    case 'ForceReleaseLock':
      return forceReleaseLock(command, state, metadata);
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
  forgetPastForcedReleases(state, event.metadata.at);
  switch (event.type) {
    case 'AgreementOpened':
    case 'AgreementChanged':
      if (event.type === 'AgreementOpened') state.status = 'open';
      state.name = event.data.name;
      state.licenses = event.data.licenses;
      state.bounds = event.data.bounds;
      state.lingerMs = event.data.lingerMs ?? 0;
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
    case 'LockGranted':
      applyGranted(state, event);
      return state;
    case 'LockRenewed':
      applyRenewed(state, event);
      return state;
    case 'LockReleased':
      applyReleased(state, event);
      return state;
    case 'SupportLockIssued':
      applySupportIssued(state, event);
      return state;
    case 'LockForceReleased':
      applyForceReleased(state, event);
      return state;
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
  const lingerMs = command.data.lingerMs ?? 0;
  const problem = agreementProblem(name, licenses, bounds, lingerMs);
  if (problem) return [invalid(command, metadata, problem)];
  return [{ type: 'AgreementOpened', data: { agreementId, name, licenses, bounds, ...lingerField(lingerMs) }, metadata }];
}

function changeAgreement(command: ChangeAgreement, state: AgreementState, metadata: EventMetadata): LeaseEvent[] {
  const notOpen = notOpenProblem(state);
  if (notOpen) return [invalid(command, metadata, notOpen)];
  const name = command.data.name ?? state.name;
  const licenses = command.data.licenses ?? state.licenses;
  const bounds = mergeBounds(state.bounds, command.data.bounds);
  const lingerMs = command.data.lingerMs ?? state.lingerMs;
  const problem = agreementProblem(name, licenses, bounds, lingerMs);
  if (problem) return [invalid(command, metadata, problem)];
  const unchanged =
    name === state.name &&
    licenses === state.licenses &&
    lingerMs === state.lingerMs &&
    bounds.minMs === state.bounds.minMs &&
    bounds.maxMs === state.bounds.maxMs &&
    bounds.defaultMs === state.bounds.defaultMs;
  // Lowering licenses below the live locks is allowed: they stay until released or expired. A new
  // linger applies to releases from now on; locks lingering already keep their end.
  return unchanged ? [] : [{ type: 'AgreementChanged', data: { agreementId: state.agreementId, name, licenses, bounds, ...lingerField(lingerMs) }, metadata }];
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

// --- Helpers ---

function mergeBounds(base: LockPeriodBounds, change: Partial<LockPeriodBounds> | undefined): LockPeriodBounds {
  if (!change) return base;
  return { minMs: change.minMs ?? base.minMs, maxMs: change.maxMs ?? base.maxMs, defaultMs: change.defaultMs ?? base.defaultMs };
}

/** Events carry `lingerMs` only when it is not 0, so agreements without linger read as before. */
function lingerField(lingerMs: number): { lingerMs?: number } {
  return lingerMs === 0 ? {} : { lingerMs };
}

function agreementProblem(name: string, licenses: number, bounds: LockPeriodBounds, lingerMs: number): string | undefined {
  if (name.trim().length === 0) return 'the agreement name is empty';
  if (!Number.isSafeInteger(licenses) || licenses < 0) return `licenses must be a non-negative integer, got ${licenses}`;
  if (!Number.isSafeInteger(lingerMs) || lingerMs < 0) return `linger must be a non-negative integer of milliseconds, got ${lingerMs}`;
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
