import type { LedgerEvent } from './events';
import type { ConfigHash, DenialReason, EpochMs } from './values';

/** What to answer the requester, derived from the events of its one decision. */
export type LeaseOutcome =
  /**
   * The requester holds the lock until `expiresAt` (new lock: renewed=false; existing: true). For a
   * support lock, `expiresAt` is the support token's expiry and `overdraft` says it exceeded the licenses.
   */
  | { readonly kind: 'granted'; readonly configHash: ConfigHash; readonly expiresAt: EpochMs; readonly renewed: boolean; readonly overdraft?: boolean }
  /**
   * The requester's share is gone (or ops freed the whole lock); `freed` when the license is free
   * again, else `keptUntil` when the lock still counts until then (linger, support grant).
   */
  | { readonly kind: 'released'; readonly configHash: ConfigHash; readonly freed: boolean; readonly keptUntil?: EpochMs }
  | { readonly kind: 'denied'; readonly reason: DenialReason; readonly message: string }
  /** Anything else that succeeded, including idempotent no-ops that wrote no event. */
  | { readonly kind: 'accepted' };

export type LeaseOutcomeKind = LeaseOutcome['kind'];

/**
 * Reads the answer out of one decision's events. A decision may record housekeeping first (a
 * LockExpired before the LockGranted that re-acquires the hash), so the answer is the first event
 * that speaks to the request, not simply the first event.
 */
export function outcomeOf(events: readonly LedgerEvent[]): LeaseOutcome {
  for (const event of events) {
    switch (event.type) {
      case 'RequestDenied':
        return { kind: 'denied', reason: event.data.reason, message: event.data.message };
      case 'KeyReservationRefused':
        return { kind: 'denied', reason: 'invalid_command', message: event.data.message };
      case 'LockGranted':
      case 'LockRenewed':
        return { kind: 'granted', configHash: event.data.configHash, expiresAt: event.data.expiresAt, renewed: event.type === 'LockRenewed' };
      case 'LockReleased': {
        const { configHash, freed, keptUntil } = event.data;
        return { kind: 'released', configHash, freed, ...(keptUntil === undefined ? {} : { keptUntil }) };
      }
      case 'SupportLockIssued':
        return { kind: 'granted', configHash: event.data.configHash, expiresAt: event.data.until, renewed: false, overdraft: event.data.overdraft };
      case 'LockForceReleased':
        return { kind: 'released', configHash: event.data.configHash, freed: true };
      default:
        break;
    }
  }
  return { kind: 'accepted' };
}
