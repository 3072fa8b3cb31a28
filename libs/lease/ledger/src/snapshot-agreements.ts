import {
  AgreementState,
  AgreementStatus,
  configHashOf,
  ForcedRelease,
  HeldLock,
  Holder,
  initialState,
  LingeringLock,
  LockKey,
  lockKeyOf,
  LockState,
  SupportGrant,
  SupportLock,
} from '@license-ledger/lease-domain';
import { optional, SnapshotReader, SnapshotWriter, unexpected } from './snapshot-binary';

/*
 * The agreements part of a snapshot body (snapshot-codec.ts): each agreement with its keys, its
 * locks of every kind and its forced releases. The hot part: 100,000 live locks are 100,000 of these.
 */

const STATUSES: readonly AgreementStatus[] = ['unopened', 'open', 'closed'];
const LockTag = { Held: 0, Lingering: 1, Support: 2 } as const;
/** A lock key packs a config hash into 32 one-byte characters; anything else is kept as text. */
const PACKED_LOCK_KEY_LENGTH = 32;

export function writeAgreement(w: SnapshotWriter, state: AgreementState): void {
  w.str(state.agreementId);
  w.u8(STATUSES.indexOf(state.status));
  w.str(state.name);
  w.varuint(state.licenses);
  w.varuint(state.bounds.minMs);
  w.varuint(state.bounds.maxMs);
  w.varuint(state.bounds.defaultMs);
  w.varuint(state.lingerMs);
  w.f64(state.lastEventAt);
  w.varuint(state.keys.size);
  for (const key of state.keys.keys()) w.str(key);
  w.varuint(state.locks.size);
  for (const [lockKey, lock] of state.locks) {
    writeLockKey(w, lockKey);
    writeLock(w, lock);
  }
  w.varuint(state.forcedReleases.size);
  for (const [lockKey, forced] of state.forcedReleases) {
    writeLockKey(w, lockKey);
    w.f64(forced.until);
    w.varuint(forced.holders.length);
    for (const holder of forced.holders) writeHolder(w, holder);
    w.str(forced.releasedBy);
    w.str(forced.reason);
  }
}

export function readAgreement(r: SnapshotReader): AgreementState {
  const state = initialState(r.str());
  const status = STATUSES[r.u8()];
  if (status === undefined) throw new RangeError('unknown agreement status');
  state.status = status;
  state.name = r.str();
  state.licenses = r.varuint();
  state.bounds = { minMs: r.varuint(), maxMs: r.varuint(), defaultMs: r.varuint() };
  state.lingerMs = r.varuint();
  state.lastEventAt = r.f64();
  for (let n = r.varuint(); n > 0; n--) {
    const key = r.str();
    state.keys.set(key, key);
  }
  for (let n = r.varuint(); n > 0; n--) {
    const lockKey = readLockKey(r);
    state.locks.set(lockKey, readLock(r));
  }
  for (let n = r.varuint(); n > 0; n--) {
    const lockKey = readLockKey(r);
    const until = r.f64();
    const holders: Holder[] = [];
    for (let h = r.varuint(); h > 0; h--) holders.push(readHolder(r));
    const forced: ForcedRelease = { until, holders, releasedBy: r.str(), reason: r.str() };
    state.forcedReleases.set(lockKey, forced);
  }
  return state;
}

function writeLockKey(w: SnapshotWriter, lockKey: LockKey): void {
  const packed = lockKey.length === PACKED_LOCK_KEY_LENGTH && lockKey.charCodeAt(0) !== 0x100;
  w.bool(!packed);
  if (packed) w.latin1(lockKey, PACKED_LOCK_KEY_LENGTH);
  else w.str(configHashOf(lockKey));
}

function readLockKey(r: SnapshotReader): LockKey {
  // Text goes back through lockKeyOf, so the key is exactly what the domain would make of it.
  return r.bool() ? lockKeyOf(r.str()) : (r.latin1(PACKED_LOCK_KEY_LENGTH) as LockKey);
}

const HEX_HASH = /^[0-9a-f]{64}$/;

export function writeConfigHash(w: SnapshotWriter, configHash: string): void {
  const packed = HEX_HASH.test(configHash);
  w.bool(!packed);
  if (packed) w.hex32(configHash);
  else w.text(configHash);
}

export function readConfigHash(r: SnapshotReader): string {
  return r.bool() ? r.text() : r.hex32();
}

function writeLock(w: SnapshotWriter, lock: LockState): void {
  switch (lock.kind) {
    case 'held':
      w.u8(LockTag.Held);
      w.f64(lock.expiresAt);
      w.str(lock.holderKey);
      w.str(lock.holderHostname);
      w.varuint(lock.holderProcessId);
      w.text(lock.holderSessionId);
      w.varuint(lock.otherHolders?.length ?? 0);
      for (const holder of lock.otherHolders ?? []) writeHolder(w, holder);
      optional(w, lock.support, (grant) => writeGrant(w, grant));
      return;
    case 'lingering':
      w.u8(LockTag.Lingering);
      w.f64(lock.expiresAt);
      w.f64(lock.releasedAt);
      return;
    case 'support':
      w.u8(LockTag.Support);
      w.f64(lock.expiresAt);
      writeGrant(w, lock.grant);
      return;
    default:
      return unexpected(lock);
  }
}

function readLock(r: SnapshotReader): LockState {
  const tag = r.u8();
  const expiresAt = r.f64();
  switch (tag) {
    case LockTag.Held: {
      const key = r.str();
      const hostname = r.str();
      const processId = r.varuint();
      const sessionId = r.text();
      const others: Holder[] = [];
      for (let n = r.varuint(); n > 0; n--) others.push(readHolder(r));
      const support = r.bool() ? readGrant(r) : undefined;
      return new HeldLock(expiresAt, key, hostname, processId, sessionId, others.length > 0 ? others : undefined, support);
    }
    case LockTag.Lingering:
      return new LingeringLock(expiresAt, r.f64());
    case LockTag.Support:
      return new SupportLock(expiresAt, readGrant(r));
    default:
      throw new RangeError(`unknown lock tag ${tag}`);
  }
}

function writeHolder(w: SnapshotWriter, holder: Holder): void {
  w.str(holder.key);
  w.str(holder.hostname);
  w.varuint(holder.processId);
  w.text(holder.sessionId);
}

function readHolder(r: SnapshotReader): Holder {
  return { key: r.str(), hostname: r.str(), processId: r.varuint(), sessionId: r.text() };
}

function writeGrant(w: SnapshotWriter, grant: SupportGrant): void {
  w.str(grant.key);
  w.f64(grant.until);
  w.str(grant.issuedBy);
  w.str(grant.reason);
  w.bool(grant.overdraft);
}

function readGrant(r: SnapshotReader): SupportGrant {
  return { key: r.str(), until: r.f64(), issuedBy: r.str(), reason: r.str(), overdraft: r.bool() };
}
