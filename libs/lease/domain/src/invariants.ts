import { evolve, unreachable } from './decider';
import { isKeyEvent, type KeyEvent, type LeaseEvent, type LedgerEvent } from './events';
import { evolveKey, initialKeyState, type KeyReservationState } from './key-reservation';
import { lockKeyOf } from './lock-key';
import { forcedReleaseOf, holderCount, holdersOf, holdsLock, initialState, keptUntilAfterLastRelease, liveLockCount, sameHolder, type AgreementState } from './state';
import { SUPPORT_LOCK_MAX_MS, type AgreementId, type Holder, type RequestId } from './values';

export type InvariantRule =
  /** Event times went back within one agreement. */
  | 'time_order'
  /** A request id shows up in two decisions (events not adjacent, different times or agreements). */
  | 'request_decided_once'
  /**
   * A grant left more live locks than licenses (lowering licenses later is fine: it revokes nothing),
   * unless it is a support lock recorded as overdraft.
   */
  | 'licenses_exceeded'
  /** A renewal of a lock that was not live at the renewal's time. */
  | 'renewal_of_dead_lock'
  /** A renewal moved the expiry earlier. */
  | 'expiry_moved_earlier'
  /** Lock events that contradict the recorded locks (grant over a recorded lock, expiry of a live one, ...). */
  | 'lock_consistency'
  /** Events that contradict the agreement's lifecycle or key bindings. */
  | 'agreement_consistency'
  /** A key reserved for an agreement while another holds it, or released by one that does not. */
  | 'key_reservation'
  /** At the end of the log, a key bound to more than one open agreement (see `endOfLog`). */
  | 'key_bound_once';

export interface InvariantViolation {
  /** Position of the offending event in the checked sequence. */
  readonly index: number;
  readonly rule: InvariantRule;
  readonly agreementId: AgreementId;
  readonly requestId: RequestId;
  readonly message: string;
}

/** Where one stream's decisions stand: its last request id and time. */
interface StreamTrack {
  lastRequestId: RequestId | undefined;
  lastAt: number;
}

interface AgreementTrack extends StreamTrack {
  readonly state: AgreementState;
}

interface KeyTrack extends StreamTrack {
  readonly state: KeyReservationState;
}

/**
 * Checks a lease event log (any number of agreements and keys, each stream's events in log order)
 * for what the deciders promise. Streaming: feed events one by one with `observe` (memory grows with
 * the ledger state and the set of request ids), or use `checkInvariants` for an array.
 */
export class LeaseInvariantChecker {
  private readonly agreements = new Map<AgreementId, AgreementTrack>();
  private readonly keys = new Map<string, KeyTrack>();
  /** Per key, the agreements it is bound to, with the KeyBound that bound it. */
  private readonly bindings = new Map<string, Map<AgreementId, { readonly index: number; readonly requestId: RequestId }>>();
  /** Every request id seen so far, with the agreement that decided it. */
  private readonly seenRequests = new Map<RequestId, AgreementId>();
  private readonly found: InvariantViolation[] = [];
  private index = 0;

  get violations(): readonly InvariantViolation[] {
    return this.found;
  }

  /** Checks one event against what came before, then applies it; returns its violations. */
  observe(event: LedgerEvent): InvariantViolation[] {
    const index = this.index++;
    const { agreementId } = event.data;
    const { requestId } = event.metadata;
    const violations: InvariantViolation[] = [];
    const report = (rule: InvariantRule, message: string): void => {
      violations.push({ index, rule, agreementId, requestId, message });
    };
    if (isKeyEvent(event)) this.observeKey(event, report);
    else this.observeAgreement(event, report);
    this.found.push(...violations);
    return violations;
  }

  private observeAgreement(event: LeaseEvent, report: (rule: InvariantRule, message: string) => void): void {
    const { agreementId } = event.data;
    const { requestId, at } = event.metadata;
    let track = this.agreements.get(agreementId);
    if (!track) {
      track = { state: initialState(agreementId), lastRequestId: undefined, lastAt: Number.NEGATIVE_INFINITY };
      this.agreements.set(agreementId, track);
    }

    if (at < track.lastAt) report('time_order', `${event.type} at ${at} follows an event at ${track.lastAt}`);
    this.checkRequestId(track, agreementId, requestId, at, report);
    this.checkEvent(track.state, event, report);
    if (event.type === 'KeyBound' || event.type === 'KeyRevoked') this.noteBinding(event.type === 'KeyBound', event.data.key, agreementId, requestId);

    evolve(track.state, event);
    track.lastAt = Math.max(track.lastAt, at);
  }

  private noteBinding(bound: boolean, key: string, agreementId: AgreementId, requestId: RequestId): void {
    let agreements = this.bindings.get(key);
    if (bound) {
      if (!agreements) this.bindings.set(key, (agreements = new Map()));
      agreements.set(agreementId, { index: this.index - 1, requestId });
    } else {
      agreements?.delete(agreementId);
      if (agreements?.size === 0) this.bindings.delete(key);
    }
  }

  /**
   * Checks what only the whole log can show: no key bound to two open agreements. Agreements (and
   * so their bindings) are on different partitions, whose order relative to each other a log does
   * not keep, so this holds at the end of a quiet log rather than after every event.
   */
  endOfLog(): InvariantViolation[] {
    const violations: InvariantViolation[] = [];
    for (const [key, agreements] of this.bindings) {
      const open = [...agreements].filter(([agreementId]) => this.agreements.get(agreementId)?.state.status === 'open');
      if (open.length < 2) continue;
      open.sort(([, a], [, b]) => a.index - b.index);
      const [latestId, latest] = open[open.length - 1] as (typeof open)[number];
      const others = open.slice(0, -1).map(([agreementId]) => `"${agreementId}"`).join(', ');
      violations.push({ index: latest.index, rule: 'key_bound_once', agreementId: latestId, requestId: latest.requestId, message: `key ${key} is bound to open agreements ${others} and "${latestId}"` });
    }
    return violations;
  }

  /** A key's events are all on the key's partition, in order: its reservations can be checked exactly. */
  private observeKey(event: KeyEvent, report: (rule: InvariantRule, message: string) => void): void {
    const { key, agreementId } = event.data;
    const { requestId, at } = event.metadata;
    let track = this.keys.get(key);
    if (!track) {
      track = { state: initialKeyState(key), lastRequestId: undefined, lastAt: Number.NEGATIVE_INFINITY };
      this.keys.set(key, track);
    }
    if (at < track.lastAt) report('time_order', `${event.type} at ${at} follows an event of the key at ${track.lastAt}`);
    this.checkRequestId(track, agreementId, requestId, at, report);
    const { heldBy } = track.state;
    if (event.type === 'KeyReserved' && heldBy !== undefined && heldBy !== agreementId) {
      report('key_reservation', `key ${key} reserved for "${agreementId}" while reserved for "${heldBy}"`);
    }
    if (event.type === 'KeyReleased' && heldBy !== agreementId) report('key_reservation', `key ${key} released by "${agreementId}", which does not hold it`);
    evolveKey(track.state, event);
    track.lastAt = Math.max(track.lastAt, at);
  }

  private checkRequestId(
    track: StreamTrack,
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
      case 'KeyBindRequested':
      case 'KeyBound':
        if (state.status !== 'open') report('agreement_consistency', `${event.type} while the agreement is ${state.status}`);
        return;
      case 'KeyRevoked':
        if (!state.keys.has(event.data.key)) report('agreement_consistency', 'revoked a key that is not bound');
        return;
      case 'LockGranted': {
        if (state.status !== 'open') report('agreement_consistency', `lock granted while the agreement is ${state.status}`);
        if (!state.keys.has(event.data.holder.key)) report('agreement_consistency', 'lock granted to a key that is not bound');
        this.checkNotForcedOut(state, event.data.configHash, event.data.holder, at, report);
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
        this.checkNotForcedOut(state, event.data.configHash, event.data.holder, at, report);
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
        // The last holder frees the lock, or leaves it counted until the linger or support grant ends.
        const keptUntil = holderCount(lock) === 1 && lock.kind === 'held' ? keptUntilAfterLastRelease(lock, at, state.lingerMs) : undefined;
        const freed = holderCount(lock) === 1 && keptUntil === undefined;
        if (event.data.freed !== freed || event.data.keptUntil !== keptUntil) {
          report('lock_consistency', `release says freed=${event.data.freed}, keptUntil=${event.data.keptUntil}, but ${holderCount(lock)} holder(s) held the lock (freed=${freed}, keptUntil=${keptUntil})`);
        }
        return;
      }
      case 'SupportLockIssued':
        this.checkSupportLock(state, event, report);
        return;
      case 'LockForceReleased': {
        const lock = state.locks.get(lockKeyOf(event.data.configHash));
        if (!lock || lock.expiresAt <= at) {
          report('lock_consistency', `forced release at ${at} of lock ${event.data.configHash}, which is not live`);
          return;
        }
        if (event.data.expiresAt !== lock.expiresAt) report('lock_consistency', `forced release says the lock expires at ${event.data.expiresAt}, the lock's expiry is ${lock.expiresAt}`);
        if (!sameHolders(event.data.holders, holdersOf(lock))) report('lock_consistency', `forced release of lock ${event.data.configHash} names other holders than the lock has`);
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

  private checkNotForcedOut(state: AgreementState, configHash: string, holder: Holder, at: number, report: (rule: InvariantRule, message: string) => void): void {
    if (forcedReleaseOf(state, configHash, holder, at)) report('lock_consistency', `lock ${configHash} taken by a gateway process whose lock ops released by force`);
  }

  private checkSupportLock(state: AgreementState, event: Extract<LeaseEvent, { type: 'SupportLockIssued' }>, report: (rule: InvariantRule, message: string) => void): void {
    const { configHash, key, until, overdraft } = event.data;
    const at = event.metadata.at;
    if (state.status !== 'open') report('agreement_consistency', `support lock issued while the agreement is ${state.status}`);
    if (!state.keys.has(key)) report('agreement_consistency', 'support lock issued for a key that is not bound');
    if (until <= at || until - at > SUPPORT_LOCK_MAX_MS) report('lock_consistency', `support lock until ${until} is not within (${at}, ${at + SUPPORT_LOCK_MAX_MS}]`);
    const existing = state.locks.get(lockKeyOf(configHash));
    if (existing && existing.expiresAt <= at) report('lock_consistency', `support lock ${configHash} issued over an expired lock without its LockExpired`);
    // On a live lock the license is counted already; otherwise only a recorded overdraft may exceed the licenses.
    const exceeded = !(existing && existing.expiresAt > at) && liveLockCount(state, at) + 1 > state.licenses;
    if (exceeded && !overdraft) report('licenses_exceeded', `${liveLockCount(state, at) + 1} live locks after the support lock, ${state.licenses} licenses, not recorded as overdraft`);
    if (overdraft && !exceeded) report('lock_consistency', `support lock ${configHash} recorded as overdraft, but it did not exceed the licenses`);
  }
}

function sameHolders(a: readonly Holder[], b: readonly Holder[]): boolean {
  return a.length === b.length && a.every((holder) => b.some((other) => sameHolder(holder, other)));
}

/** Every violation in `events`, including the end-of-log checks. */
export function checkInvariants(events: Iterable<LedgerEvent>): InvariantViolation[] {
  const checker = new LeaseInvariantChecker();
  for (const event of events) checker.observe(event);
  return [...checker.violations, ...checker.endOfLog()];
}
