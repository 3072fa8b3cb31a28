import { configHashOf, lockKeyOf, type LockKey } from './lock-key';
import { DEFAULT_BOUNDS, type AgreementId, type ConfigHash, type EpochMs, type GatewayKey, type Holder, type LockPeriodBounds, type SupportGrant } from './values';

export type AgreementStatus = 'unopened' | 'open' | 'closed';

/**
 * A lock that gateway processes hold. Most locks have a single holder, so the first holder's fields
 * sit inline and further holders go to `otherHolders` (absent until someone joins): no array, no map
 * and no holder object per lock. A held lock always has at least one holder.
 */
export class HeldLock {
  constructor(
    public expiresAt: EpochMs,
    public holderKey: GatewayKey,
    public holderHostname: string,
    public holderProcessId: number,
    public holderSessionId: string,
    public otherHolders: Holder[] | undefined,
    /** A support grant on the same hash: when the holders leave, the lock stays counted until its `until`. */
    public support: SupportGrant | undefined,
  ) {}

  // On the prototype, so telling the kinds apart costs no memory per lock.
  get kind(): 'held' {
    return 'held';
  }
}

/** Its last holder released it; it stays counted against the licenses until `expiresAt` (the linger). */
export class LingeringLock {
  constructor(
    public expiresAt: EpochMs,
    readonly releasedAt: EpochMs,
  ) {}

  get kind(): 'lingering' {
    return 'lingering';
  }
}

/** Issued by support for a gateway that runs on a support token; no gateway process holds it (yet). */
export class SupportLock {
  constructor(
    public expiresAt: EpochMs,
    readonly grant: SupportGrant,
  ) {}

  get kind(): 'support' {
    return 'support';
  }
}

/** One recorded lock on (agreement, config hash): live while `expiresAt` is in the future, whatever its kind. */
export type LockState = HeldLock | LingeringLock | SupportLock;
export type LockKind = LockState['kind'];

/** Holders ops released by force, refused renewal of that hash until the freed lock's expiry. */
export interface ForcedRelease {
  readonly until: EpochMs;
  readonly holders: readonly Holder[];
  readonly releasedBy: string;
  readonly reason: string;
}

/**
 * The decider's state for one agreement (the partition unit: one writer per agreement).
 *
 * Mutable on purpose: `evolve` updates it in place and returns the same object, because copying an
 * agreement with thousands of locks per event is not viable at a million locks. Everything else
 * (`decide`, the queries below) only reads it. Hence: own one state per agreement, create it with
 * `initialState`, and never hand it to code that keeps an older version around.
 */
export interface AgreementState {
  readonly agreementId: AgreementId;
  status: AgreementStatus;
  name: string;
  licenses: number;
  bounds: LockPeriodBounds;
  /** How long a lock stays counted after its last holder released it (0: freed at once). */
  lingerMs: number;
  /** Keys bound to this agreement, each mapped to itself so every lock of a key shares one string. */
  readonly keys: Map<GatewayKey, GatewayKey>;
  /** Recorded locks, live or past their expiry but not yet recorded as expired (see `isLive`). */
  readonly locks: Map<LockKey, LockState>;
  /** Forced releases still remembered (until their `until`), by lock key; usually empty. */
  readonly forcedReleases: Map<LockKey, ForcedRelease>;
  /** Time of the latest event applied: decisions never happen before it, so time never goes back. */
  lastEventAt: EpochMs;
}

/** A fresh, unopened agreement: the state before its first event. */
export function initialState(agreementId: AgreementId): AgreementState {
  return {
    agreementId,
    status: 'unopened',
    name: '',
    licenses: 0,
    bounds: DEFAULT_BOUNDS,
    lingerMs: 0,
    keys: new Map(),
    locks: new Map(),
    forcedReleases: new Map(),
    lastEventAt: Number.NEGATIVE_INFINITY,
  };
}

/** Live iff the expiry is strictly in the future: a lock expiring exactly now is already free. */
export function isLive(lock: LockState, now: EpochMs): boolean {
  return lock.expiresAt > now;
}

/** Locks that count against the licenses at `now` (recorded locks past their expiry do not). */
export function liveLockCount(state: AgreementState, now: EpochMs): number {
  let live = 0;
  for (const lock of state.locks.values()) if (lock.expiresAt > now) live++;
  return live;
}

/**
 * The earliest expiry among recorded locks (possibly already past: then `ExpireLocks` is due at
 * once), or undefined with no locks. O(locks): call it after a batch, not per event.
 */
export function nextExpiry(state: AgreementState): EpochMs | undefined {
  let earliest: EpochMs | undefined;
  for (const lock of state.locks.values()) if (earliest === undefined || lock.expiresAt < earliest) earliest = lock.expiresAt;
  return earliest;
}

export function sameHolder(a: Holder, b: Holder): boolean {
  return a.processId === b.processId && a.sessionId === b.sessionId && a.key === b.key && a.hostname === b.hostname;
}

function isFirstHolder(lock: HeldLock, holder: Holder): boolean {
  return (
    lock.holderProcessId === holder.processId &&
    lock.holderSessionId === holder.sessionId &&
    lock.holderKey === holder.key &&
    lock.holderHostname === holder.hostname
  );
}

export function holdsLock(lock: LockState, holder: Holder): boolean {
  if (!(lock instanceof HeldLock)) return false;
  return isFirstHolder(lock, holder) || (lock.otherHolders?.some((other) => sameHolder(other, holder)) ?? false);
}

/** Gateway processes holding the lock: 0 for a lingering or support lock. */
export function holderCount(lock: LockState): number {
  return lock instanceof HeldLock ? 1 + (lock.otherHolders?.length ?? 0) : 0;
}

export function holdersOf(lock: LockState): Holder[] {
  if (!(lock instanceof HeldLock)) return [];
  const first: Holder = { key: lock.holderKey, hostname: lock.holderHostname, processId: lock.holderProcessId, sessionId: lock.holderSessionId };
  return [first, ...(lock.otherHolders ?? [])];
}

/** The support grant that keeps the lock, if any. */
export function supportOf(lock: LockState): SupportGrant | undefined {
  switch (lock.kind) {
    case 'held':
      return lock.support;
    case 'support':
      return lock.grant;
    case 'lingering':
      return undefined;
    default: {
      const unknown: never = lock;
      throw new Error(`unknown lock ${JSON.stringify(unknown)}`);
    }
  }
}

/** A plain copy of one lock, for callers that want to look rather than decide (ops, tests). */
export interface LockSnapshot {
  readonly configHash: ConfigHash;
  readonly kind: LockKind;
  readonly expiresAt: EpochMs;
  /** Empty for a lingering or support lock. */
  readonly holders: readonly Holder[];
  /** When the last holder released a lingering lock. */
  readonly releasedAt?: EpochMs;
  readonly support?: SupportGrant;
}

function snapshotOf(configHash: ConfigHash, lock: LockState): LockSnapshot {
  const support = supportOf(lock);
  return {
    configHash,
    kind: lock.kind,
    expiresAt: lock.expiresAt,
    holders: holdersOf(lock),
    ...(lock instanceof LingeringLock ? { releasedAt: lock.releasedAt } : {}),
    ...(support ? { support } : {}),
  };
}

export function lockOf(state: AgreementState, configHash: ConfigHash): LockSnapshot | undefined {
  const lock = state.locks.get(lockKeyOf(configHash));
  return lock && snapshotOf(configHash, lock);
}

export function locksOf(state: AgreementState): LockSnapshot[] {
  return [...state.locks].map(([lockKey, lock]) => snapshotOf(configHashOf(lockKey), lock));
}

/** The forced release that refuses `holder` renewal of `configHash` at `now`, if any. */
export function forcedReleaseOf(state: AgreementState, configHash: ConfigHash, holder: Holder, now: EpochMs): ForcedRelease | undefined {
  if (state.forcedReleases.size === 0) return undefined;
  const forced = state.forcedReleases.get(lockKeyOf(configHash));
  return forced && forced.until > now && forced.holders.some((h) => sameHolder(h, holder)) ? forced : undefined;
}

/**
 * Until when a held lock stays counted once its last holder leaves at `at`: the linger, or a live
 * support grant, whichever is later, never past the lock's expiry. Undefined: freed at once.
 */
export function keptUntilAfterLastRelease(lock: HeldLock, at: EpochMs, lingerMs: number): EpochMs | undefined {
  const lingerEnd = Math.min(lock.expiresAt, at + lingerMs);
  const supportEnd = lock.support ? Math.min(lock.expiresAt, lock.support.until) : at;
  const kept = Math.max(lingerEnd, supportEnd);
  return kept > at ? kept : undefined;
}

/** Of two grants on one hash, the one that keeps the lock longer (ties: the newer). */
export function longerGrant(current: SupportGrant | undefined, next: SupportGrant): SupportGrant {
  return current && current.until > next.until ? current : next;
}

// --- Mutations: used by `evolve` only. ---

export function newLock(expiresAt: EpochMs, holder: Holder, sharedKey: GatewayKey, support?: SupportGrant): HeldLock {
  return new HeldLock(expiresAt, sharedKey, holder.hostname, holder.processId, holder.sessionId, undefined, support);
}

export function addHolder(lock: HeldLock, holder: Holder, sharedKey: GatewayKey): void {
  if (holdsLock(lock, holder)) return;
  const joining: Holder = { key: sharedKey, hostname: holder.hostname, processId: holder.processId, sessionId: holder.sessionId };
  if (lock.otherHolders) lock.otherHolders.push(joining);
  else lock.otherHolders = [joining];
}

/** Removes `holder`; returns how many holders remain (0: the caller drops or replaces the lock). */
export function removeHolder(lock: HeldLock, holder: Holder): number {
  const others = lock.otherHolders;
  if (isFirstHolder(lock, holder)) {
    const promoted = others?.shift();
    if (!promoted) return 0;
    lock.holderKey = promoted.key;
    lock.holderHostname = promoted.hostname;
    lock.holderProcessId = promoted.processId;
    lock.holderSessionId = promoted.sessionId;
  } else if (others) {
    const index = others.findIndex((other) => sameHolder(other, holder));
    if (index >= 0) others.splice(index, 1);
  }
  if (others?.length === 0) lock.otherHolders = undefined;
  return holderCount(lock);
}
