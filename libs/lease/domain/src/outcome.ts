import type { LedgerEvent } from './events';
import type { ConfigHash, DenialReason, EpochMs } from './values';

/** What to answer the requester, derived from the events of its one decision. */
export type LeaseOutcome =
  /** The requester holds the lock until `expiresAt` (new lock: renewed=false; existing: true). */
  | { readonly kind: 'granted'; readonly configHash: ConfigHash; readonly expiresAt: EpochMs; readonly renewed: boolean }
  /** The requester's share is gone; `freed` when it was the last holder. */
  | { readonly kind: 'released'; readonly configHash: ConfigHash; readonly freed: boolean }
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
      case 'LockReleased':
        return { kind: 'released', configHash: event.data.configHash, freed: event.data.freed };
      default:
        break;
    }
  }
  return { kind: 'accepted' };
}
