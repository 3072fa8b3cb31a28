import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { decodeLedgerRecord, isLedgerEvent, ManifestLookup, SnapshotStore, stateTopicsOf } from '@license-ledger/lease-ledger';
import { env, loadConfig } from '@license-ledger/platform-config';
import { KafkaJsMessageBus, MessageBus, PartitionRange, Topics } from '@license-ledger/platform-kafka';
import { z } from 'zod';
import { UsageError } from './args';
import type { CliDependencies } from './cli';
import { formatTime, table } from './format';

export const SNAPSHOT_STATUS_HELP = `snapshot status  [--exact]
                   per ledger partition: its latest snapshot's offset, age and size, and the tail a
                   starting lease instance folds after it (records after its offset; --exact reads
                   them and counts the events); exit 1 when a snapshot is unusable`;

const snapshotConfig = {
  KAFKA_BROKERS: env.brokers(),
  LEASE_EVENTS_TOPIC: z.string().min(1).default(Topics.leaseEvents.name),
};

const silentBusLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };

/** One partition's line of `snapshot status`. */
export interface SnapshotStatus {
  readonly partition: number;
  readonly lookup: ManifestLookup;
  /** Records of the events partition after the snapshot's offset (all of them without a snapshot). */
  readonly tailRecords: bigint;
  /** With --exact: the events among them (markers and checkpoints left out). */
  readonly tailEvents?: number;
}

export function parseSnapshotArgs(argv: readonly string[]): { readonly exact: boolean } {
  const [subcommand, ...rest] = argv;
  if (subcommand !== 'status') throw new UsageError(`snapshot: expected "status", got "${subcommand ?? ''}"\n  ${SNAPSHOT_STATUS_HELP}`);
  try {
    const { values } = parseArgs({ args: rest, options: { exact: { type: 'boolean' } }, strict: true, allowPositionals: false });
    return { exact: values.exact === true };
  } catch (error) {
    throw new UsageError(`snapshot status: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** `ledger snapshot status`: reads the manifests only (and, with --exact, the tails), never a snapshot body. */
export async function runSnapshot(argv: readonly string[], deps: CliDependencies): Promise<number> {
  const { exact } = parseSnapshotArgs(argv);
  const config = loadConfig(snapshotConfig, deps.env);
  const brokers = config.KAFKA_BROKERS;
  const bus = deps.createBus?.(brokers) ?? new KafkaJsMessageBus({ clientId: `ledger-cli-${hostname()}-${process.pid}`, brokers, logger: silentBusLogger });
  try {
    const eventsTopic = config.LEASE_EVENTS_TOPIC;
    const statuses = await snapshotStatus(bus, eventsTopic, exact);
    const now = deps.now?.() ?? Date.now();
    deps.io.out(`snapshots of ${eventsTopic} in ${stateTopicsOf(eventsTopic).snapshots}:`);
    for (const line of formatSnapshotStatus(statuses, now)) deps.io.out(line);
    return statuses.some((s) => s.lookup.kind === 'unusable') ? 1 : 0;
  } finally {
    await bus.close();
  }
}

export async function snapshotStatus(bus: MessageBus, eventsTopic: string, exact: boolean): Promise<SnapshotStatus[]> {
  const events = await bus.partitionRanges(eventsTopic);
  const store = new SnapshotStore(bus, stateTopicsOf(eventsTopic).snapshots, eventsTopic);
  const manifests = await store.latestManifests(events.map((range) => range.partition));
  const tails: PartitionRange[] = events.map((range) => {
    const lookup = manifests.get(range.partition);
    const from = lookup?.kind === 'found' ? lookup.manifest.coveredOffset : range.start;
    return { partition: range.partition, start: BigInt(from) > BigInt(range.start) ? from : range.start, end: range.end };
  });
  const counted = exact ? await countEvents(bus, eventsTopic, tails) : undefined;
  return tails.map((tail) => ({
    partition: tail.partition,
    lookup: manifests.get(tail.partition) ?? { kind: 'none' },
    tailRecords: BigInt(tail.end) - BigInt(tail.start),
    ...(counted ? { tailEvents: counted.get(tail.partition) ?? 0 } : {}),
  }));
}

async function countEvents(bus: MessageBus, topic: string, ranges: readonly PartitionRange[]): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  await bus.readRanges({
    topic,
    ranges,
    onMessages: (messages) => {
      for (const message of messages) {
        if (isLedgerEvent(decodeLedgerRecord(message.value))) counts.set(message.partition, (counts.get(message.partition) ?? 0) + 1);
      }
    },
  });
  return counts;
}

/** A rounded age: 42s, 5m12s, 3h05m, 2d07h. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  const pad = (n: number): string => String(n).padStart(2, '0');
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m${pad(seconds % 60)}s`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3_600)}h${pad(Math.floor(seconds / 60) % 60)}m`;
  return `${Math.floor(seconds / 86_400)}d${pad(Math.floor(seconds / 3_600) % 24)}h`;
}

export function formatSnapshotStatus(statuses: readonly SnapshotStatus[], nowMs: number): string[] {
  const withEvents = statuses.some((s) => s.tailEvents !== undefined);
  const rows = statuses.map((status) => {
    const { lookup } = status;
    const tail = [String(status.tailRecords), ...(withEvents ? [String(status.tailEvents ?? '-')] : [])];
    switch (lookup.kind) {
      case 'found': {
        const { manifest } = lookup;
        const size = `${(manifest.bodyBytes / 1e6).toFixed(1)} MB`;
        return [String(status.partition), manifest.coveredOffset, formatTime(manifest.takenAtMs), formatAge(nowMs - manifest.takenAtMs), size, ...tail, 'ok'];
      }
      case 'none':
        return [String(status.partition), '-', '-', '-', '-', ...tail, 'no snapshot: a start folds the whole partition'];
      case 'unusable':
        return [String(status.partition), '-', '-', '-', '-', ...tail, `unusable (offset ${lookup.offset}): ${lookup.reason}`];
      default: {
        const unknown: never = lookup;
        throw new Error(`unknown snapshot lookup ${JSON.stringify(unknown)}`);
      }
    }
  });
  const header = ['PARTITION', 'SNAPSHOT OFFSET', 'TAKEN AT', 'AGE', 'SIZE', 'TAIL RECORDS', ...(withEvents ? ['TAIL EVENTS'] : []), 'STATE'];
  return table(header, rows);
}
