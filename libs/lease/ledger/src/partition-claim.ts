import type { EpochMs } from '@license-ledger/lease-domain';
import type { MessageBus, TransactionalPublisher } from '@license-ledger/platform-kafka';
import { encodeJson, PartitionClaimed } from './records';
import { inTransactionRetrying } from './transaction-retry';

export interface PartitionClaimOptions {
  readonly bus: MessageBus;
  readonly eventsTopic: string;
  /** Names the partition's transactional id (`<groupId>.partition-<n>`), the same on every instance. */
  readonly groupId: string;
  readonly instanceId: string;
  readonly clock: () => EpochMs;
  readonly newId: () => string;
  readonly timeoutMs: number;
  readonly logger: { info(fields: object, message: string): void };
  /** The offset of the next record this instance's state of the partition will apply from the log. */
  readonly stateNextOffset: () => bigint;
  /** True once the processor stops or the claim's generation is over (a rebalance): the claim is given up. */
  readonly givenUp: () => boolean;
  /**
   * Called once the log is marked: loads the partition's latest snapshot if it is ahead of the state,
   * so only the events after it are folded while the claim waits for the mark.
   */
  readonly catchUp?: () => Promise<void>;
  /** Called once the state has read past the mark, before anything is decided (key directory, snapshot). */
  readonly caughtUp?: (publisher: TransactionalPublisher) => Promise<void>;
  /** Records this instance folded into the partition's state since it last loaded a snapshot (the claim's log line). */
  readonly folded?: () => number;
}

/**
 * Claims a partition for this instance: fences earlier writers (a publisher with the partition's
 * transactional id), marks the log with PartitionClaimed, loads the partition's latest snapshot if
 * the state is behind it (catchUp), and waits until our state reader has read up to the mark, so
 * the state includes everything earlier owners committed; then writes what a new owner writes
 * first (caughtUp). Resolves with the fenced-in publisher; on failure it is closed.
 */
export async function claimPartition(partition: number, options: PartitionClaimOptions): Promise<TransactionalPublisher> {
  const { bus, eventsTopic, groupId, instanceId } = options;
  if (options.givenUp()) throw new ClaimGivenUpError(partition);
  const publisher = await bus.transactionalPublisher(`${groupId}.partition-${partition}`);
  try {
    const marker: PartitionClaimed = {
      type: 'PartitionClaimed',
      data: { partition, owner: instanceId, claimId: options.newId() },
      metadata: { at: options.clock() },
    };
    const [written] = await inTransactionRetrying(publisher, (tx) => tx.send(eventsTopic, [{ key: null, partition, value: encodeJson(marker) }]));
    if (!written) throw new Error(`claim of partition ${partition}: no offset returned`);
    const markerOffset = BigInt(written.baseOffset);
    await options.catchUp?.();
    const deadline = Date.now() + options.timeoutMs;
    while (options.stateNextOffset() <= markerOffset) {
      if (options.givenUp()) throw new ClaimGivenUpError(partition);
      if (Date.now() > deadline) throw new Error(`state of partition ${partition} did not reach offset ${markerOffset}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await options.caughtUp?.(publisher);
    options.logger.info({ event: 'claimed', partition, markerOffset: String(markerOffset), ...(options.folded ? { tail_folded: options.folded() } : {}) }, 'partition claimed');
    return publisher;
  } catch (error) {
    // Nobody else holds this producer: close it, or its connection outlives the claim.
    await publisher.close().catch(() => undefined);
    throw error;
  }
}

/** The processor stopped, or the generation the claim was for is over. */
export class ClaimGivenUpError extends Error {
  override readonly name = 'ClaimGivenUpError';
  constructor(partition: number) {
    super(`claim of partition ${partition} given up: stopped or no longer assigned`);
  }
}
