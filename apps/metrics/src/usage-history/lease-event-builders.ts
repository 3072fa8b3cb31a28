import type { EpochMs, Holder, LeaseEvent } from '@license-ledger/lease-domain';

/*
 * Readable, well-formed lease events for the usage-history and dashboard tests (the same shapes the
 * lease service writes, so they pass the events topic's parser).
 */

let requests = 0;
const meta = (at: EpochMs) => ({ requestId: `test-${++requests}`, at });

/** A config hash distinct per name (64 lower-case hex digits). */
export const hashOf = (n: number): string => n.toString(16).padStart(2, '0').repeat(32);
export const holderOf = (n: number): Holder => ({ key: Buffer.alloc(32, n).toString('base64'), hostname: `gw-${n}`, processId: 1000 + n, sessionId: `session-${n}` });
const BOUNDS = { minMs: 60_000, maxMs: 7 * 24 * 3_600_000, defaultMs: 7_200_000 };

export const leaseEvents = (agreementId: string) => ({
  opened: (at: EpochMs, licenses: number): LeaseEvent => ({ type: 'AgreementOpened', data: { agreementId, name: agreementId, licenses, bounds: BOUNDS }, metadata: meta(at) }),
  changed: (at: EpochMs, licenses: number): LeaseEvent => ({ type: 'AgreementChanged', data: { agreementId, name: agreementId, licenses, bounds: BOUNDS }, metadata: meta(at) }),
  closed: (at: EpochMs): LeaseEvent => ({ type: 'AgreementClosed', data: { agreementId }, metadata: meta(at) }),
  granted: (at: EpochMs, lock: number, expiresAt: EpochMs): LeaseEvent => ({ type: 'LockGranted', data: { agreementId, configHash: hashOf(lock), holder: holderOf(lock), expiresAt }, metadata: meta(at) }),
  renewed: (at: EpochMs, lock: number, expiresAt: EpochMs): LeaseEvent => ({ type: 'LockRenewed', data: { agreementId, configHash: hashOf(lock), holder: holderOf(lock), expiresAt }, metadata: meta(at) }),
  released: (at: EpochMs, lock: number, freed = true, keptUntil?: EpochMs): LeaseEvent => ({
    type: 'LockReleased',
    data: { agreementId, configHash: hashOf(lock), holder: holderOf(lock), freed, ...(keptUntil === undefined ? {} : { keptUntil }) },
    metadata: meta(at),
  }),
  support: (at: EpochMs, lock: number, until: EpochMs): LeaseEvent => ({
    type: 'SupportLockIssued',
    data: { agreementId, configHash: hashOf(lock), key: holderOf(lock).key, until, issuedBy: 'support', reason: 'test', overdraft: false },
    metadata: meta(at),
  }),
  forceReleased: (at: EpochMs, lock: number, expiresAt: EpochMs): LeaseEvent => ({
    type: 'LockForceReleased',
    data: { agreementId, configHash: hashOf(lock), holders: [holderOf(lock)], expiresAt, releasedBy: 'ops', reason: 'test' },
    metadata: meta(at),
  }),
  expired: (at: EpochMs, lock: number, expiredAt: EpochMs = at): LeaseEvent => ({ type: 'LockExpired', data: { agreementId, configHash: hashOf(lock), expiredAt }, metadata: meta(at) }),
  denied: (at: EpochMs, command = 'AcquireLock'): LeaseEvent => ({
    type: 'RequestDenied',
    data: { agreementId, reason: command === 'AcquireLock' ? 'no_available_licenses' : 'invalid_command', command, message: 'denied in a test' },
    metadata: meta(at),
  }),
});
