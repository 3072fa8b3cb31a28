import { configHashOf, lockKeyOf, type LockKey } from './lock-key';
import { DEFAULT_BOUNDS, type AgreementId, type ConfigHash, type EpochMs, type GatewayKey, type Holder, type LockPeriodBounds } from './values';

export type AgreementStatus = 'unopened' | 'open' | 'closed';

/**
 * One lock on (agreement, config hash). Most locks have a single holder, so the first holder's fields
 * sit inline and further holders go to `otherHolders` (absent until someone joins): no array, no map
 * and no holder object per lock. A recorded lock always has at least one holder.
 */
export class LockState {
  constructor(
    public expiresAt: EpochMs,
    public holderKey: GatewayKey,
    public holderHostname: string,
    public holderProcessId: number,
    public holderSessionId: string,
    public otherHolders: Holder[] | undefined,
  ) {}
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
  /** Keys bound to this agreement, each mapped to itself so every lock of a key shares one string. */
  readonly keys: Map<GatewayKey, GatewayKey>;
  /** Recorded locks, live or past their expiry but not yet recorded as expired (see `isLive`). */
  readonly locks: Map<LockKey, LockState>;
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
    keys: new Map(),
    locks: new Map(),
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

function isFirstHolder(lock: LockState, holder: Holder): boolean {
  return (
    lock.holderProcessId === holder.processId &&
    lock.holderSessionId === holder.sessionId &&
    lock.holderKey === holder.key &&
    lock.holderHostname === holder.hostname
  );
}

export function holdsLock(lock: LockState, holder: Holder): boolean {
  return isFirstHolder(lock, holder) || (lock.otherHolders?.some((other) => sameHolder(other, holder)) ?? false);
}

export function holderCount(lock: LockState): number {
  return 1 + (lock.otherHolders?.length ?? 0);
}

export function holdersOf(lock: LockState): Holder[] {
  const first: Holder = { key: lock.holderKey, hostname: lock.holderHostname, processId: lock.holderProcessId, sessionId: lock.holderSessionId };
  return [first, ...(lock.otherHolders ?? [])];
}

/** A plain copy of one lock, for callers that want to look rather than decide (ops, tests). */
export interface LockSnapshot {
  readonly configHash: ConfigHash;
  readonly expiresAt: EpochMs;
  readonly holders: readonly Holder[];
}

export function lockOf(state: AgreementState, configHash: ConfigHash): LockSnapshot | undefined {
  const lock = state.locks.get(lockKeyOf(configHash));
  return lock && { configHash, expiresAt: lock.expiresAt, holders: holdersOf(lock) };
}

export function locksOf(state: AgreementState): LockSnapshot[] {
  return [...state.locks].map(([lockKey, lock]) => ({ configHash: configHashOf(lockKey), expiresAt: lock.expiresAt, holders: holdersOf(lock) }));
}

// --- Mutations: used by `evolve` only. ---

export function newLock(expiresAt: EpochMs, holder: Holder, sharedKey: GatewayKey): LockState {
  return new LockState(expiresAt, sharedKey, holder.hostname, holder.processId, holder.sessionId, undefined);
}

export function addHolder(lock: LockState, holder: Holder, sharedKey: GatewayKey): void {
  if (holdsLock(lock, holder)) return;
  const joining: Holder = { key: sharedKey, hostname: holder.hostname, processId: holder.processId, sessionId: holder.sessionId };
  if (lock.otherHolders) lock.otherHolders.push(joining);
  else lock.otherHolders = [joining];
}

/** Removes `holder`; returns how many holders remain (0: the caller drops the lock). */
export function removeHolder(lock: LockState, holder: Holder): number {
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
