/**
 * One generation of this instance's ownership of a commands partition, as a state machine. Every
 * rebalance, and every failed write that is retried, starts a new generation in `claiming`.
 *
 *   claiming  --claimed-->      owning  --revoked-->  revoked  --released-->  released
 *   claiming  --revoked-->      revoked (it never owned: nothing to write)
 *   claiming  --claimFailed-->  failed(claim)
 *   owning, revoked  --writeFailed-->  failed(write)
 *   failed  --released-->  released
 *
 * A failed generation still assigned to this instance is followed by a new one in `claiming` after
 * reclaimDelayMs: nothing waits for a rebalance to unstick a partition.
 *
 * Pure: the processor applies the effects (the ledger's "ahead of the log" mark, the rebuild after
 * a failed write, closing the publisher). `Writer` is whatever writes the owner's decisions: only an
 * owner has one, so nothing can be decided for a partition that is not (or no longer) owned.
 *
 * Seam for per-partition snapshots and hash chains (issue 15): what an owner keeps between
 * transactions (the chain's head, the last snapshot's offset) belongs in `owning`, handed over by
 * `claimed` once the claim has read the log.
 */
export type OwnershipState<Writer> =
  /** Fencing earlier writers, marking the log and reading it up to the mark; the log's reader keeps the state. */
  | { readonly phase: 'claiming' }
  /** Decides commands; its state is ahead of the log by what it has decided. */
  | { readonly phase: 'owning'; readonly writer: Writer }
  /**
   * Taken away by a rebalance or a stop: decides nothing more, but writes what it decided (if it
   * owned at all, `writer` is set) and commits the consumed offsets before it is released.
   */
  | { readonly phase: 'revoked'; readonly writer: Writer | undefined }
  /**
   * The claim failed (the partition's commands fail with `error` until it is claimed again), or a
   * write failed: what was decided is lost, the state must be rebuilt from the log, and nothing more
   * may be written under this generation.
   */
  | { readonly phase: 'failed'; readonly stage: 'claim' | 'write'; readonly error: unknown }
  /** Written, committed and closed: the log's reader keeps the partition's state again. */
  | { readonly phase: 'released' };

export type OwnershipEvent<Writer> =
  | { readonly type: 'claimed'; readonly writer: Writer }
  | { readonly type: 'claimFailed'; readonly error: unknown }
  | { readonly type: 'writeFailed'; readonly error: unknown }
  | { readonly type: 'revoked' }
  | { readonly type: 'released' };

export function claiming<Writer>(): OwnershipState<Writer> {
  return { phase: 'claiming' };
}

/**
 * The state after `event`. An event that does not apply to the state (a claim completing after the
 * partition was revoked, a revoke after a failure) leaves it as it is, and the same object is
 * returned, so callers can tell "nothing changed" by identity.
 */
export function nextOwnershipState<Writer>(state: OwnershipState<Writer>, event: OwnershipEvent<Writer>): OwnershipState<Writer> {
  switch (state.phase) {
    case 'claiming':
      switch (event.type) {
        case 'claimed':
          return { phase: 'owning', writer: event.writer };
        case 'claimFailed':
          return { phase: 'failed', stage: 'claim', error: event.error };
        case 'revoked':
          // Nothing decided, nothing to write: the claim's publisher is only closed once it is there.
          return { phase: 'revoked', writer: undefined };
        case 'writeFailed':
        case 'released':
          return state;
        default:
          return unexpected(event);
      }
    case 'owning':
      switch (event.type) {
        case 'writeFailed':
          return { phase: 'failed', stage: 'write', error: event.error };
        case 'revoked':
          return { phase: 'revoked', writer: state.writer };
        case 'claimed':
        case 'claimFailed':
        case 'released':
          return state;
        default:
          return unexpected(event);
      }
    case 'revoked':
      switch (event.type) {
        case 'writeFailed':
          // The last writes failed: the state must be rebuilt and the offsets must not be committed.
          return { phase: 'failed', stage: 'write', error: event.error };
        case 'released':
          return { phase: 'released' };
        case 'claimed':
        case 'claimFailed':
        case 'revoked':
          return state;
        default:
          return unexpected(event);
      }
    case 'failed':
      switch (event.type) {
        case 'released':
          return { phase: 'released' };
        case 'claimed':
        case 'claimFailed':
        case 'writeFailed':
        case 'revoked':
          return state;
        default:
          return unexpected(event);
      }
    case 'released':
      return state;
    default:
      return unexpected(state);
  }
}

/** Commands of the partition may be decided (and written) now. */
export function ownerOf<Writer>(state: OwnershipState<Writer>): Writer | undefined {
  return state.phase === 'owning' ? state.writer : undefined;
}

/**
 * The partition's state holds decisions the log's reader has not read (or may still read back): the
 * reader must leave it alone until the ownership is released or has failed (then it is rebuilt).
 */
export function isAheadOfLog(state: OwnershipState<unknown>): boolean {
  switch (state.phase) {
    case 'owning':
      return true;
    case 'revoked':
      return state.writer !== undefined;
    case 'claiming':
    case 'failed':
    case 'released':
      return false;
    default:
      return unexpected(state);
  }
}

/**
 * Still this instance's partition in the current generation: being claimed, owned, or assigned but
 * not claimable (its commands fail until the next rebalance). A failed write is not: another
 * instance fenced it, or it is claimed again in a new generation.
 */
export function holdsPartition(state: OwnershipState<unknown>): boolean {
  switch (state.phase) {
    case 'claiming':
    case 'owning':
      return true;
    case 'failed':
      return state.stage === 'claim';
    case 'revoked':
    case 'released':
      return false;
    default:
      return unexpected(state);
  }
}

/** First pause before claiming again after failed claims; it doubles with each one, up to RECLAIM_MAX_MS. */
export const RECLAIM_INITIAL_MS = 250;
export const RECLAIM_MAX_MS = 5_000;
/**
 * The least pause after a fencing. Another producer took the partition's transactional id: if a
 * rebalance gave the partition to another instance, it reaches us within a heartbeat or two and
 * revokes this generation first; if it was a stale claim (an earlier generation's, ours or a slow
 * instance's), claiming again takes the partition back.
 */
export const FENCED_RECLAIM_MS = 3_000;

/**
 * How long to wait before the next claim of a partition whose generation failed, after `failures`
 * failed claims in a row (0 when a write failed after a good claim: claimed again at once).
 */
export function reclaimDelayMs(failures: number, fenced: boolean): number {
  const backoff = failures === 0 ? 0 : Math.min(RECLAIM_MAX_MS, RECLAIM_INITIAL_MS * 2 ** (failures - 1));
  return fenced ? Math.max(FENCED_RECLAIM_MS, backoff) : backoff;
}

function unexpected(value: never): never {
  throw new Error(`unexpected ownership state or event: ${JSON.stringify(value)}`);
}
