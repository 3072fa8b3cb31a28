import { HOUR_MS } from '@license-ledger/metrics-usage-history';
import type { EpochMs, LeaseEvent } from '@license-ledger/lease-domain';

/*
 * The usage history of license agreements: how many locks each one held at once, per hour, beside
 * its licenses, and how many lock requests it denied. A pure fold of the lease events (one
 * agreement's events are on one partition, in time order): `foldUsage(prior, events)` answers with
 * the hours to merge into the stored ones and the agreements' new state; the store persists both
 * in one transaction with the partition's consumed offset.
 *
 * Concurrent locks at an instant = recorded locks whose expiry is later (as the decider counts
 * them: a lock past its expiry no longer counts, even before its LockExpired is written). Between
 * two events that number only falls (expiries), so an hour's peak is the larger of the count at the
 * hour's start and the counts right after the events that add a lock.
 */

export { HOUR_MS };

export const hourOf = (at: EpochMs): EpochMs => Math.floor(at / HOUR_MS) * HOUR_MS;

/** What the fold keeps of one opened agreement between batches. */
export interface AgreementUsage {
  readonly agreementId: string;
  readonly status: 'open' | 'closed';
  /** Licenses it may lock now: 0 once closed. */
  readonly licenses: number;
  readonly openedAt: EpochMs;
  readonly lastEventAt: EpochMs;
  /** Recorded locks: config hash -> expiry. */
  readonly locks: ReadonlyMap<string, EpochMs>;
}

/** One agreement-hour as this batch saw it; merged into a stored hour by `mergeHours`' rules. */
export interface UsageHour {
  readonly agreementId: string;
  readonly hour: EpochMs;
  /** Most locks held at once during the hour (as far as this batch saw it: merge with max). */
  readonly peakLocks: number;
  /** Most licenses the agreement had during the hour (merge with max). */
  readonly licenses: number;
  /** Licenses after the hour's last event (the later batch's value wins): carried into hours without events. */
  readonly licensesAtEnd: number;
  /** Lock requests denied (AcquireLock refused for any reason; merge by adding). */
  readonly denials: number;
}

/** A recorded lock's new expiry, or null when it is gone. */
export interface LockChange {
  readonly agreementId: string;
  readonly configHash: string;
  readonly expiresAt: EpochMs | null;
}

export interface UsageFoldResult {
  /** Agreements whose state changed, as they are now. */
  readonly agreements: ReadonlyMap<string, AgreementUsage>;
  readonly hours: readonly UsageHour[];
  /** Net change per lock over the batch. */
  readonly lockChanges: readonly LockChange[];
}

/** Merges a later batch's view of an hour into an earlier one (the store does the same in SQL). */
export function mergeHours(earlier: UsageHour, later: UsageHour): UsageHour {
  return {
    agreementId: earlier.agreementId,
    hour: earlier.hour,
    peakLocks: Math.max(earlier.peakLocks, later.peakLocks),
    licenses: Math.max(earlier.licenses, later.licenses),
    licensesAtEnd: later.licensesAtEnd,
    denials: earlier.denials + later.denials,
  };
}

/** Locks live at `at`: recorded with a later expiry. */
export function liveLocks(locks: ReadonlyMap<string, EpochMs>, at: EpochMs): number {
  let live = 0;
  for (const expiresAt of locks.values()) if (expiresAt > at) live++;
  return live;
}

interface Accumulator {
  hour: EpochMs;
  peakLocks: number;
  licenses: number;
  denials: number;
}

/** One agreement being folded: a private copy of its state, so `prior` is never changed. */
class Working {
  status: 'unopened' | 'open' | 'closed';
  licenses: number;
  openedAt: EpochMs;
  lastEventAt: EpochMs | undefined;
  readonly locks: Map<string, EpochMs>;
  readonly changed = new Set<string>();
  current: Accumulator | undefined;
  readonly hours: UsageHour[] = [];

  constructor(readonly agreementId: string, prior: AgreementUsage | undefined) {
    this.status = prior?.status ?? 'unopened';
    this.licenses = prior?.licenses ?? 0;
    this.openedAt = prior?.openedAt ?? 0;
    this.lastEventAt = prior?.lastEventAt;
    this.locks = new Map(prior?.locks ?? []);
  }

  apply(event: LeaseEvent): void {
    // Time never goes back within an agreement; a log that says otherwise is read as "same instant".
    const at = Math.max(event.metadata.at, this.lastEventAt ?? Number.NEGATIVE_INFINITY);
    if (this.status === 'unopened' && event.type !== 'AgreementOpened') return; // no history before it exists
    this.enterHour(at);
    this.lastEventAt = at;
    const hour = this.current as Accumulator;
    switch (event.type) {
      case 'AgreementOpened':
        if (this.status === 'unopened') {
          this.status = 'open';
          this.openedAt = at;
          this.licenses = event.data.licenses;
        }
        break;
      case 'AgreementChanged':
        if (this.status === 'open') this.licenses = event.data.licenses;
        break;
      case 'AgreementClosed':
        this.status = 'closed';
        this.licenses = 0;
        break;
      case 'LockGranted':
        this.setLock(event.data.configHash, event.data.expiresAt);
        this.notePeak(at);
        break;
      case 'LockRenewed': {
        const before = this.locks.get(event.data.configHash);
        // A renewal of a live lock keeps the count; one of an unknown or lapsed lock adds one.
        this.setLock(event.data.configHash, before === undefined ? event.data.expiresAt : Math.max(before, event.data.expiresAt));
        if (before === undefined || before <= at) this.notePeak(at);
        break;
      }
      case 'LockReleased':
        // The last holder left: the lock is free, or stays counted until `keptUntil` (linger, support grant).
        if (event.data.freed) this.dropLock(event.data.configHash);
        else if (event.data.keptUntil !== undefined) this.setLock(event.data.configHash, event.data.keptUntil);
        break;
      case 'SupportLockIssued': {
        // A support grant keeps a live lock at least until `until`, or locks the hash anew.
        const before = this.locks.get(event.data.configHash);
        const live = before !== undefined && before > at;
        this.setLock(event.data.configHash, live ? Math.max(before, event.data.until) : event.data.until);
        if (!live) this.notePeak(at);
        break;
      }
      case 'LockForceReleased':
      case 'LockExpired':
        this.dropLock(event.data.configHash);
        break;
      case 'RequestDenied':
        if (event.data.command === 'AcquireLock') hour.denials++;
        break;
      case 'KeyBindRequested':
      case 'KeyBound':
      case 'KeyRevoked':
        break;
      default: {
        const unknown: never = event;
        throw new Error(`cannot fold event ${JSON.stringify(unknown)}`);
      }
    }
    hour.licenses = Math.max(hour.licenses, this.licenses);
  }

  /** Closes the hours before `at`'s (those in between hold what was left live at their start). */
  private enterHour(at: EpochMs): void {
    const hour = hourOf(at);
    if (this.current?.hour === hour) return;
    const previous = this.current?.hour ?? (this.lastEventAt === undefined || this.status === 'unopened' ? undefined : hourOf(this.lastEventAt));
    if (this.current) this.close(this.current);
    if (previous !== undefined && previous < hour) {
      // Counted from the sorted expiries: at most one row per hour until the last lock lapses.
      const expiries = [...this.locks.values()].sort((a, b) => a - b);
      for (let h = previous + HOUR_MS; h < hour; h += HOUR_MS) {
        const live = countAbove(expiries, h);
        if (live === 0) break;
        this.hours.push({ agreementId: this.agreementId, hour: h, peakLocks: live, licenses: this.licenses, licensesAtEnd: this.licenses, denials: 0 });
      }
    }
    // An hour entered from an earlier one starts with what is live at its start; an hour already
    // begun in an earlier batch has its peak so far stored, and nothing was added since.
    const startsHere = previous !== undefined && previous < hour;
    this.current = { hour, peakLocks: startsHere ? liveLocks(this.locks, hour) : 0, licenses: this.licenses, denials: 0 };
  }

  private notePeak(at: EpochMs): void {
    const hour = this.current as Accumulator;
    // The count can only beat the peak if there are more recorded locks than the peak (no scan otherwise).
    if (this.locks.size > hour.peakLocks) hour.peakLocks = Math.max(hour.peakLocks, liveLocks(this.locks, at));
  }

  private setLock(configHash: string, expiresAt: EpochMs): void {
    this.locks.set(configHash, expiresAt);
    this.changed.add(configHash);
  }

  private dropLock(configHash: string): void {
    if (this.locks.delete(configHash)) this.changed.add(configHash);
  }

  private close(hour: Accumulator): void {
    this.hours.push({ agreementId: this.agreementId, hour: hour.hour, peakLocks: hour.peakLocks, licenses: hour.licenses, licensesAtEnd: this.licenses, denials: hour.denials });
  }

  finish(): { state: AgreementUsage | undefined; hours: UsageHour[]; lockChanges: LockChange[] } {
    if (this.current) this.close(this.current);
    this.current = undefined;
    if (this.status === 'unopened' || this.lastEventAt === undefined) return { state: undefined, hours: [], lockChanges: [] };
    const lockChanges = [...this.changed].map((configHash) => ({ agreementId: this.agreementId, configHash, expiresAt: this.locks.get(configHash) ?? null }));
    const state: AgreementUsage = { agreementId: this.agreementId, status: this.status, licenses: this.licenses, openedAt: this.openedAt, lastEventAt: this.lastEventAt, locks: this.locks };
    return { state, hours: this.hours, lockChanges };
  }
}

/** How many of the ascending `sorted` values are greater than `at`. */
function countAbove(sorted: readonly number[], at: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) > at) high = middle;
    else low = middle + 1;
  }
  return sorted.length - low;
}

/**
 * Folds a batch of lease events (in log order) onto the prior state of their agreements. Never
 * changes `prior`. Agreements that were never opened get no state and no hours (a denial naming an
 * unknown agreement is not history of anything).
 */
export function foldUsage(prior: ReadonlyMap<string, AgreementUsage>, events: readonly LeaseEvent[]): UsageFoldResult {
  const working = new Map<string, Working>();
  for (const event of events) {
    const id = event.data.agreementId;
    let agreement = working.get(id);
    if (!agreement) {
      agreement = new Working(id, prior.get(id));
      working.set(id, agreement);
    }
    agreement.apply(event);
  }
  const agreements = new Map<string, AgreementUsage>();
  const hours: UsageHour[] = [];
  const lockChanges: LockChange[] = [];
  for (const [id, agreement] of working) {
    const result = agreement.finish();
    if (!result.state) continue;
    agreements.set(id, result.state);
    hours.push(...result.hours);
    lockChanges.push(...result.lockChanges);
  }
  return { agreements, hours, lockChanges };
}
