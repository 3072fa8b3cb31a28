import { evolve, unreachable } from './decider';
import type { LeaseEvent } from './events';
import { lockKeyOf } from './lock-key';
import { holderCount, holdsLock, initialState, liveLockCount, type AgreementState } from './state';
import type { AgreementId, RequestId } from './values';

export type InvariantRule =
  /** Event times went back within one agreement. */
  | 'time_order'
  /** A request id shows up in two decisions (events not adjacent, different times or agreements). */
  | 'request_decided_once'
  /** A grant left more live locks than licenses (lowering licenses later is fine: it revokes nothing). */
  | 'licenses_exceeded'
  /** A renewal of a lock that was not live at the renewal's time. */
  | 'renewal_of_dead_lock'
  /** A renewal moved the expiry earlier. */
  | 'expiry_moved_earlier'
  /** Lock events that contradict the recorded locks (grant over a recorded lock, expiry of a live one, ...). */
  | 'lock_consistency'
  /** Events that contradict the agreement's lifecycle or key bindings. */
  | 'agreement_consistency';

export interface InvariantViolation {
  /** Position of the offending event in the checked sequence. */
  readonly index: number;
  readonly rule: InvariantRule;
  readonly agreementId: AgreementId;
  readonly requestId: RequestId;
  readonly message: string;
}

interface AgreementTrack {
  readonly state: AgreementState;
  lastRequestId: RequestId | undefined;
  lastAt: number;
}

/**
 * Checks a lease event log (any number of agreements, each agreement's events in log order) for
 * what the decider promises. Streaming: feed events one by one with `observe` (memory grows with
 * the ledger state and the set of request ids), or use `checkInvariants` for an array.
 */
export class LeaseInvariantChecker {
  private readonly agreements = new Map<AgreementId, AgreementTrack>();
  /** Every request id seen so far, with the agreement that decided it. */
  private readonly seenRequests = new Map<RequestId, AgreementId>();
  private readonly found: InvariantViolation[] = [];
  private index = 0;

  get violations(): readonly InvariantViolation[] {
    return this.found;
  }

  /** Checks one event against what came before, then applies it; returns its violations. */
  observe(event: LeaseEvent): InvariantViolation[] {
    const index = this.index++;
    const { agreementId } = event.data;
    const { requestId, at } = event.metadata;
    const violations: InvariantViolation[] = [];
    const report = (rule: InvariantRule, message: string): void => {
      violations.push({ index, rule, agreementId, requestId, message });
    };
    let track = this.agreements.get(agreementId);
    if (!track) {
      track = { state: initialState(agreementId), lastRequestId: undefined, lastAt: Number.NEGATIVE_INFINITY };
      this.agreements.set(agreementId, track);
    }

    if (at < track.lastAt) report('time_order', `${event.type} at ${at} follows an event at ${track.lastAt}`);
    this.checkRequestId(track, agreementId, requestId, at, report);
    this.checkEvent(track.state, event, report);

    evolve(track.state, event);
    track.lastAt = Math.max(track.lastAt, at);
    this.found.push(...violations);
    return violations;
  }

  private checkRequestId(
    track: AgreementTrack,
    agreementId: AgreementId,
    requestId: RequestId,
    at: number,
    report: (rule: InvariantRule, message: string) => void,
  ): void {
    if (track.lastRequestId === requestId) {
      // The same decision continues: all its events share one time.
      if (at !== track.lastAt) report('request_decided_once', `request ${requestId} has events at different times (${track.lastAt} and ${at})`);
      return;
    }
    track.lastRequestId = requestId;
    // Any earlier sighting is another decision: one request names one agreement and is decided once.
    const seenFor = this.seenRequests.get(requestId);
    if (seenFor === undefined) this.seenRequests.set(requestId, agreementId);
    else report('request_decided_once', `request ${requestId} was already decided${seenFor === agreementId ? '' : ` for agreement "${seenFor}"`}`);
  }

  private checkEvent(state: AgreementState, event: LeaseEvent, report: (rule: InvariantRule, message: string) => void): void {
    const at = event.metadata.at;
    switch (event.type) {
      case 'AgreementOpened':
        if (state.status !== 'unopened') report('agreement_consistency', `agreement opened again (it is ${state.status})`);
        return;
      case 'AgreementChanged':
      case 'AgreementClosed':
      case 'KeyBound':
        if (state.status !== 'open') report('agreement_consistency', `${event.type} while the agreement is ${state.status}`);
        return;
      case 'KeyRevoked':
        if (!state.keys.has(event.data.key)) report('agreement_consistency', 'revoked a key that is not bound');
        return;
      case 'LockGranted': {
        if (state.status !== 'open') report('agreement_consistency', `lock granted while the agreement is ${state.status}`);
        if (!state.keys.has(event.data.holder.key)) report('agreement_consistency', 'lock granted to a key that is not bound');
        if (event.data.expiresAt <= at) report('lock_consistency', `lock granted already expired (expiresAt ${event.data.expiresAt} <= ${at})`);
        const existing = state.locks.get(lockKeyOf(event.data.configHash));
        if (existing) {
          report(
            'lock_consistency',
            existing.expiresAt > at
              ? `lock ${event.data.configHash} granted while live until ${existing.expiresAt} (a renewal was due)`
              : `lock ${event.data.configHash} granted over an expired lock without its LockExpired`,
          );
        }
        const live = liveLockCount(state, at) + (existing && existing.expiresAt > at ? 0 : 1);
        if (live > state.licenses) report('licenses_exceeded', `${live} live locks after the grant, ${state.licenses} licenses`);
        return;
      }
      case 'LockRenewed': {
        if (state.status !== 'open') report('agreement_consistency', `lock renewed while the agreement is ${state.status}`);
        if (!state.keys.has(event.data.holder.key)) report('agreement_consistency', 'lock renewed by a key that is not bound');
        const lock = state.locks.get(lockKeyOf(event.data.configHash));
        if (!lock) report('renewal_of_dead_lock', `renewal of lock ${event.data.configHash}, which is not recorded`);
        else if (lock.expiresAt <= at) report('renewal_of_dead_lock', `renewal at ${at} of lock ${event.data.configHash}, which expired at ${lock.expiresAt}`);
        else if (event.data.expiresAt < lock.expiresAt) {
          report('expiry_moved_earlier', `renewal moved lock ${event.data.configHash} from ${lock.expiresAt} to ${event.data.expiresAt}`);
        }
        return;
      }
      case 'LockReleased': {
        const lock = state.locks.get(lockKeyOf(event.data.configHash));
        if (!lock || !holdsLock(lock, event.data.holder)) {
          report('lock_consistency', `release of lock ${event.data.configHash} by a gateway that does not hold it`);
          return;
        }
        if (lock.expiresAt <= at) report('lock_consistency', `release at ${at} of lock ${event.data.configHash}, which expired at ${lock.expiresAt}`);
        const freed = holderCount(lock) === 1;
        if (event.data.freed !== freed) report('lock_consistency', `release says freed=${event.data.freed}, but ${holderCount(lock)} holder(s) held the lock`);
        return;
      }
      case 'LockExpired': {
        const lock = state.locks.get(lockKeyOf(event.data.configHash));
        if (!lock) report('lock_consistency', `expiry of lock ${event.data.configHash}, which is not recorded`);
        else if (lock.expiresAt > at) report('lock_consistency', `lock ${event.data.configHash} recorded as expired at ${at}, but live until ${lock.expiresAt}`);
        else if (event.data.expiredAt !== lock.expiresAt) report('lock_consistency', `expiredAt ${event.data.expiredAt} differs from the lock's expiry ${lock.expiresAt}`);
        return;
      }
      case 'RequestDenied':
        return;
      default:
        unreachable(event);
    }
  }
}

export function checkInvariants(events: Iterable<LeaseEvent>): InvariantViolation[] {
  const checker = new LeaseInvariantChecker();
  for (const event of events) checker.observe(event);
  return [...checker.violations];
}
