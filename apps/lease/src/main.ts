import 'reflect-metadata';
import { DEFAULT_FOLD_THREADS, DEFAULT_SNAPSHOT_POLICY } from '@license-ledger/lease-ledger';
import { Topics } from '@license-ledger/platform-kafka';
import { runService } from '@license-ledger/platform-nest';
import { readSigningKeyFile } from '@license-ledger/protocol-crypto';
import { z } from 'zod';
import { createLeaseModule } from './lease.module';

void runService({
  service: 'lease',
  defaultPort: 3001,
  extraConfig: {
    LEASE_COMMANDS_TOPIC: z.string().min(1).default(Topics.leaseCommands.name),
    LEASE_EVENTS_TOPIC: z.string().min(1).default(Topics.leaseEvents.name),
    LEASE_REPLIES_TOPIC: z.string().min(1).default(Topics.leaseReplies.name),
    LEASE_GROUP_ID: z.string().min(1).default('license-ledger.lease'),
    // A partition's owner snapshots its state after this many records of the partition, or this
    // long after its last snapshot (when anything came after it); 0 records: never.
    LEDGER_SNAPSHOT_EVERY_RECORDS: z.coerce.number().int().min(0).max(1_000_000_000).default(DEFAULT_SNAPSHOT_POLICY.everyRecords),
    LEDGER_SNAPSHOT_EVERY_SECONDS: z.coerce.number().int().min(1).max(7 * 86_400).default(DEFAULT_SNAPSHOT_POLICY.everyMs / 1_000),
    // Partitions without a snapshot are folded at start on this many threads (this one included),
    // when they hold at least this many records; 1 thread: no fold threads.
    LEDGER_FOLD_THREADS: z.coerce.number().int().min(1).max(64).default(DEFAULT_FOLD_THREADS.threads),
    LEDGER_FOLD_THREADS_MIN_RECORDS: z.coerce.number().int().min(0).default(DEFAULT_FOLD_THREADS.minRecords),
    // Ed25519 key file (0600) that signs the events chain's checkpoints (docs/ledger-integrity.md).
    LEDGER_SIGN_KEY_FILE: z.string().min(1).optional(),
  },
  createModule: (config, platform) =>
    createLeaseModule(platform, {
      commandsTopic: config.LEASE_COMMANDS_TOPIC,
      eventsTopic: config.LEASE_EVENTS_TOPIC,
      repliesTopic: config.LEASE_REPLIES_TOPIC,
      groupId: config.LEASE_GROUP_ID,
      snapshotPolicy: { everyRecords: config.LEDGER_SNAPSHOT_EVERY_RECORDS, everyMs: config.LEDGER_SNAPSHOT_EVERY_SECONDS * 1_000 },
      ledgerKey: config.LEDGER_SIGN_KEY_FILE === undefined ? undefined : readSigningKeyFile(config.LEDGER_SIGN_KEY_FILE),
      foldThreads: { threads: config.LEDGER_FOLD_THREADS, minRecords: config.LEDGER_FOLD_THREADS_MIN_RECORDS },
    }),
});
