import type { EpochMs } from '@license-ledger/lease-domain';
import type { DeadLetteredRecord, MessageBus } from '@license-ledger/platform-kafka';
import type { CheckpointSigner } from './chain-records';
import type { CheckpointPolicy } from './chain-writer';
import type { FoldThreadsConfig } from './fold-threads';
import type { LedgerTopics } from './ledger-topics';
import type { SnapshotPolicy } from './state-writer';

export interface LeaseProcessorLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface LeaseProcessorOptions {
  readonly bus: MessageBus;
  readonly topics: LedgerTopics;
  /**
   * Consumer group of the commands topic, shared by every lease instance. It also names the
   * per-partition transactional ids (`<groupId>.partition-<n>`), the same for every instance.
   */
  readonly groupId: string;
  readonly instanceId: string;
  readonly logger: LeaseProcessorLogger;
  /** Defaults to the system clock and random UUIDs; tests may pass their own. */
  readonly clock?: () => EpochMs;
  readonly newId?: () => string;
  readonly expiryCheckIntervalMs?: number;
  readonly claimTimeoutMs?: number;
  /** Where commands that cannot be decided go (default Topics.deadLetters.name). */
  readonly deadLetterTopic?: string;
  /** Called for each command dead-lettered, once its transaction committed (metrics). */
  readonly onDeadLetter?: (record: DeadLetteredRecord) => void;
  /** When owners write snapshots to `topics.snapshots` (default DEFAULT_SNAPSHOT_POLICY). */
  readonly snapshotPolicy?: SnapshotPolicy;
  /**
   * The ledger key (Ed25519) that signs the owners' checkpoints of the events chain
   * (docs/ledger-integrity.md). Without it events are chained but no checkpoint is written.
   */
  readonly ledgerKey?: CheckpointSigner;
  /** How often owners sign (default DEFAULT_CHECKPOINT_POLICY). */
  readonly checkpointPolicy?: CheckpointPolicy;
  /**
   * Partitions without a snapshot are folded at start on this many threads (fold-threads.ts), when
   * their logs are long enough; absent, on the processor's thread alone.
   */
  readonly foldThreads?: FoldThreadsConfig;
}
