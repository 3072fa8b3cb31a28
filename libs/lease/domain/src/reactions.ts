import type { LedgerCommand } from './commands';
import type { LedgerEvent } from './events';

/**
 * A command that a decision's events call for on another stream. The runtime writes it to the
 * commands topic in the same transaction as the events, so it is sent exactly when they are written.
 */
export interface FollowUp {
  readonly command: LedgerCommand;
  /**
   * The request is not answered yet: its asker gets the outcome of this command's decision (which
   * may carry it on again). Otherwise the follow-up is housekeeping and the decision itself answers.
   */
  readonly carriesAnswer: boolean;
}

/*
 * Binding a key takes three decisions on two streams, each a plain command of its own:
 *
 *   BindKey (agreement)       -> KeyBindRequested  -> ReserveKey (key)
 *   ReserveKey (key)          -> KeyReserved       -> BindReservedKey (agreement) -> KeyBound
 *                             -> KeyReservationRefused: the answer (denied, names the holder)
 *   BindReservedKey on an agreement closed meanwhile -> RequestDenied -> ReleaseKey (key)
 *   RevokeKey (agreement)     -> KeyRevoked        -> ReleaseKey (key) -> KeyReleased
 *
 * Why no key is bound to two agreements: KeyBound(a, k) is written only on a BindReservedKey, which
 * only a KeyReserved(k, a) sends; the key's stream reserves k for one agreement at a time and frees
 * it only on a ReleaseKey from the holder, which the holder sends only once k is no longer bound
 * there (after KeyRevoked, or instead of binding). An agreement is checked to be open before the
 * reservation, and can afterwards only close, which releases instead of binding.
 *
 * Follow-up request ids derive from the deciding request id, so each step is decided once (a
 * repeated step is answered from the ledger's memory) and every step is told apart in the log.
 */
export function followUpsOf(events: readonly LedgerEvent[]): FollowUp[] {
  const followUps: FollowUp[] = [];
  for (const event of events) {
    const requestId = event.metadata.requestId;
    switch (event.type) {
      case 'KeyBindRequested':
        followUps.push({ command: { type: 'ReserveKey', data: { key: event.data.key, agreementId: event.data.agreementId }, metadata: { requestId: `${requestId}>reserve` } }, carriesAnswer: true });
        break;
      case 'KeyReserved':
        followUps.push({ command: { type: 'BindReservedKey', data: { agreementId: event.data.agreementId, key: event.data.key }, metadata: { requestId: `${requestId}>bind` } }, carriesAnswer: true });
        break;
      case 'KeyRevoked':
        // Answered once the key is free, so a bind elsewhere right after the answer succeeds.
        followUps.push({ command: { type: 'ReleaseKey', data: { key: event.data.key, agreementId: event.data.agreementId }, metadata: { requestId: `${requestId}>release` } }, carriesAnswer: true });
        break;
      case 'RequestDenied':
        // The agreement closed between the request and the reservation: give the key back.
        if (event.data.command === 'BindReservedKey' && event.data.key !== undefined) {
          followUps.push({ command: { type: 'ReleaseKey', data: { key: event.data.key, agreementId: event.data.agreementId }, metadata: { requestId: `${requestId}>release` } }, carriesAnswer: false });
        }
        break;
      default:
        break;
    }
  }
  return followUps;
}
