import type { AcquireLock, BindKey, BindReservedKey, ForceReleaseLock, IssueSupportLock, ReleaseKey, ReleaseLock, ReserveKey, RevokeKey } from '../commands';
import type {
  AgreementChanged,
  AgreementClosed,
  AgreementOpened,
  EventMetadata,
  KeyBindRequested,
  KeyBound,
  KeyReleased,
  KeyReservationRefused,
  KeyReserved,
  KeyRevoked,
  LockExpired,
  LockForceReleased,
  LockGranted,
  LockReleased,
  LockRenewed,
  RequestDenied,
  SupportLockIssued,
} from '../events';
import { DEFAULT_BOUNDS, type ConfigHash, type DenialReason, type EpochMs, type GatewayKey, type Holder, type LockPeriodBounds } from '../values';

/** Spec fixtures: readable builders for events and commands of one agreement. */
export const AGREEMENT = 'agreement-0042';
export const T0: EpochMs = Date.UTC(2026, 0, 1);
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

/** A well-formed gateway key (base64 of 32 bytes) distinct per n. */
export function keyOf(n: number): GatewayKey {
  return Buffer.alloc(32, n).toString('base64');
}

/** A well-formed config hash distinct per n (0..255). */
export function hashOf(n: number): ConfigHash {
  return n.toString(16).padStart(2, '0').repeat(32);
}

export function holderOf(n: number, overrides: Partial<Holder> = {}): Holder {
  return { key: keyOf(n), hostname: `gw-${n}.example.net`, processId: 1000 + n, sessionId: `session-${n}`, ...overrides };
}

export const meta = (requestId: string, at: EpochMs): EventMetadata => ({ requestId, at });

export const opened = (m: EventMetadata, licenses = 2, bounds: LockPeriodBounds = DEFAULT_BOUNDS, name = 'Acme Trading', lingerMs = 0): AgreementOpened => ({
  type: 'AgreementOpened',
  data: { agreementId: AGREEMENT, name, licenses, bounds, ...(lingerMs === 0 ? {} : { lingerMs }) },
  metadata: m,
});
export const changed = (m: EventMetadata, licenses: number, bounds: LockPeriodBounds = DEFAULT_BOUNDS, name = 'Acme Trading', lingerMs = 0): AgreementChanged => ({
  type: 'AgreementChanged',
  data: { agreementId: AGREEMENT, name, licenses, bounds, ...(lingerMs === 0 ? {} : { lingerMs }) },
  metadata: m,
});
export const closed = (m: EventMetadata): AgreementClosed => ({ type: 'AgreementClosed', data: { agreementId: AGREEMENT }, metadata: m });
export const bindRequested = (m: EventMetadata, key: GatewayKey, agreementId = AGREEMENT): KeyBindRequested => ({
  type: 'KeyBindRequested',
  data: { agreementId, key },
  metadata: m,
});
export const bound = (m: EventMetadata, key: GatewayKey): KeyBound => ({ type: 'KeyBound', data: { agreementId: AGREEMENT, key }, metadata: m });
export const revoked = (m: EventMetadata, key: GatewayKey): KeyRevoked => ({ type: 'KeyRevoked', data: { agreementId: AGREEMENT, key }, metadata: m });
export const granted = (m: EventMetadata, configHash: ConfigHash, holder: Holder, expiresAt: EpochMs): LockGranted => ({
  type: 'LockGranted',
  data: { agreementId: AGREEMENT, configHash, holder, expiresAt },
  metadata: m,
});
export const renewed = (m: EventMetadata, configHash: ConfigHash, holder: Holder, expiresAt: EpochMs): LockRenewed => ({
  type: 'LockRenewed',
  data: { agreementId: AGREEMENT, configHash, holder, expiresAt },
  metadata: m,
});
export const released = (m: EventMetadata, configHash: ConfigHash, holder: Holder, freed: boolean, keptUntil?: EpochMs): LockReleased => ({
  type: 'LockReleased',
  data: { agreementId: AGREEMENT, configHash, holder, freed, ...(keptUntil === undefined ? {} : { keptUntil }) },
  metadata: m,
});
/** What a support lock records; `support` fills in the ops notes. */
export interface SupportNotes {
  readonly issuedBy?: string;
  readonly reason?: string;
  readonly overdraft?: boolean;
}
export const supportIssued = (m: EventMetadata, configHash: ConfigHash, key: GatewayKey, until: EpochMs, notes: SupportNotes = {}): SupportLockIssued => ({
  type: 'SupportLockIssued',
  data: { agreementId: AGREEMENT, configHash, key, until, issuedBy: notes.issuedBy ?? 'alice@support', reason: notes.reason ?? 'ingress unreachable from site B', overdraft: notes.overdraft ?? false },
  metadata: m,
});
export const forceReleased = (m: EventMetadata, configHash: ConfigHash, holders: Holder[], expiresAt: EpochMs, reason = 'config replaced', releasedBy = 'bob@ops'): LockForceReleased => ({
  type: 'LockForceReleased',
  data: { agreementId: AGREEMENT, configHash, holders, expiresAt, releasedBy, reason },
  metadata: m,
});
export const expired = (m: EventMetadata, configHash: ConfigHash, expiredAt: EpochMs): LockExpired => ({
  type: 'LockExpired',
  data: { agreementId: AGREEMENT, configHash, expiredAt },
  metadata: m,
});
export const deniedAcquire = (m: EventMetadata, reason: DenialReason, message: string, holder: Holder, configHash: ConfigHash, command = 'AcquireLock'): RequestDenied => ({
  type: 'RequestDenied',
  data: { agreementId: AGREEMENT, reason, command, message, key: holder.key, configHash },
  metadata: m,
});
/** A denial of an ops command about one lock (`key` when the command names one). */
export const deniedOps = (m: EventMetadata, command: string, reason: DenialReason, message: string, configHash: ConfigHash, key?: GatewayKey): RequestDenied => ({
  type: 'RequestDenied',
  data: { agreementId: AGREEMENT, reason, command, message, ...(key === undefined ? {} : { key }), configHash },
  metadata: m,
});

// The key stream's events, for key `key` and agreement `agreementId`.
export const reserved = (m: EventMetadata, key: GatewayKey, agreementId = AGREEMENT): KeyReserved => ({ type: 'KeyReserved', data: { key, agreementId }, metadata: m });
export const keyReleased = (m: EventMetadata, key: GatewayKey, agreementId = AGREEMENT): KeyReleased => ({ type: 'KeyReleased', data: { key, agreementId }, metadata: m });
export const reservationRefused = (m: EventMetadata, key: GatewayKey, agreementId: string, heldBy: string): KeyReservationRefused => ({
  type: 'KeyReservationRefused',
  data: { key, agreementId, heldBy, message: `the key is bound to agreement "${heldBy}"; revoke it there before binding it to "${agreementId}"` },
  metadata: m,
});

export const bindKey = (requestId: string, key: GatewayKey, agreementId = AGREEMENT): BindKey => ({ type: 'BindKey', data: { agreementId, key }, metadata: { requestId } });
export const revokeKey = (requestId: string, key: GatewayKey, agreementId = AGREEMENT): RevokeKey => ({ type: 'RevokeKey', data: { agreementId, key }, metadata: { requestId } });
export const bindReserved = (requestId: string, key: GatewayKey, agreementId = AGREEMENT): BindReservedKey => ({
  type: 'BindReservedKey',
  data: { agreementId, key },
  metadata: { requestId },
});
export const reserveKey = (requestId: string, key: GatewayKey, agreementId = AGREEMENT): ReserveKey => ({ type: 'ReserveKey', data: { key, agreementId }, metadata: { requestId } });
export const releaseKey = (requestId: string, key: GatewayKey, agreementId = AGREEMENT): ReleaseKey => ({ type: 'ReleaseKey', data: { key, agreementId }, metadata: { requestId } });

export const acquire = (requestId: string, configHash: ConfigHash, holder: Holder, requestedPeriodMs?: number): AcquireLock => ({
  type: 'AcquireLock',
  data: { agreementId: AGREEMENT, configHash, holder, ...(requestedPeriodMs === undefined ? {} : { requestedPeriodMs }) },
  metadata: { requestId },
});
export const release = (requestId: string, configHash: ConfigHash, holder: Holder): ReleaseLock => ({
  type: 'ReleaseLock',
  data: { agreementId: AGREEMENT, configHash, holder },
  metadata: { requestId },
});
export const issueSupport = (requestId: string, configHash: ConfigHash, key: GatewayKey, until: EpochMs, notes: SupportNotes = {}): IssueSupportLock => ({
  type: 'IssueSupportLock',
  data: { agreementId: AGREEMENT, configHash, key, until, issuedBy: notes.issuedBy ?? 'alice@support', reason: notes.reason ?? 'ingress unreachable from site B', overdraft: notes.overdraft ?? false },
  metadata: { requestId },
});
export const forceRelease = (requestId: string, configHash: ConfigHash, reason = 'config replaced', releasedBy = 'bob@ops'): ForceReleaseLock => ({
  type: 'ForceReleaseLock',
  data: { agreementId: AGREEMENT, configHash, reason, releasedBy },
  metadata: { requestId },
});

/** An open agreement with `licenses` licenses and keys 1..keyCount bound, all at T0. */
export function openWithKeys(licenses: number, keyCount = 3, bounds: LockPeriodBounds = DEFAULT_BOUNDS, lingerMs = 0) {
  return [opened(meta('r-open', T0), licenses, bounds, 'Acme Trading', lingerMs), ...Array.from({ length: keyCount }, (_, i) => bound(meta(`r-bind-${i + 1}`, T0), keyOf(i + 1)))];
}
