import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { KafkaBusOptions, PartitionRange } from '@license-ledger/platform-kafka';
import type { LeaseProcessorLogger } from './lease-processor-options';
import { ledgerOf, TransferredLedger } from './ledger-transfer';
import type { PartitionLedger } from './partition-ledger';

/**
 * Folding the events topic on several threads: each thread reads its own partitions (its own
 * connections, the lean reader) and folds them, then moves the results here (ledger-transfer.ts).
 * Partitions are independent, so N threads fold nearly N times as fast as one while cores are free;
 * bringing a result back costs what its state holds (live locks, the dedup window), not its log.
 */

/** How a fold thread reaches Kafka: its own MessageBus, with these options. */
export type FoldThreadBusOptions = Pick<KafkaBusOptions, 'clientId' | 'brokers' | 'requestTimeoutMs' | 'rangeReader' | 'leaderPatienceMs'>;

export interface FoldThreadsConfig {
  readonly bus: FoldThreadBusOptions;
  /** Threads to fold on, this one included (1: no fold threads). */
  readonly threads: number;
  /** Logs shorter than this (records over the partitions to fold) are folded on the caller's thread: a thread's start costs more. */
  readonly minRecords: number;
}

export interface FoldThreadInput {
  readonly bus: FoldThreadBusOptions;
  readonly topic: string;
  readonly ranges: readonly PartitionRange[];
}

export type FoldThreadMessage =
  | { readonly kind: 'folded'; readonly ledgers: readonly TransferredLedger[] }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'log'; readonly level: 'error' | 'warn' | 'info'; readonly fields: object; readonly message: string };

export interface FoldedPartition {
  readonly ledger: PartitionLedger;
  /** Records applied from the log. */
  readonly applied: number;
}

/** What a lease instance folds with unless told otherwise (LEDGER_FOLD_THREADS, LEDGER_FOLD_THREADS_MIN_RECORDS). */
export const DEFAULT_FOLD_THREADS: Pick<FoldThreadsConfig, 'threads' | 'minRecords'> = { threads: Math.min(4, availableParallelism()), minRecords: 200_000 };

const recordsIn = (range: PartitionRange): number => Number(BigInt(range.end) - BigInt(range.start));

/** Where each range is folded: here (this thread), or on one of the fold threads. */
export interface FoldPlan {
  readonly here: readonly PartitionRange[];
  readonly threads: readonly (readonly PartitionRange[])[];
}

/**
 * Splits `ranges` over this thread and at most `threads - 1` fold threads, each about as long as the
 * others (longest first onto the least loaded). Ranges `movable` refuses stay here; so does
 * everything when the movable ranges hold fewer than `minRecords` records.
 */
export function planFold(ranges: readonly PartitionRange[], config: Pick<FoldThreadsConfig, 'threads' | 'minRecords'>, movable: (range: PartitionRange) => boolean): FoldPlan {
  const movableRecords = ranges.filter(movable).reduce((sum, range) => sum + recordsIn(range), 0);
  if (config.threads < 2 || movableRecords === 0 || movableRecords < config.minRecords) return { here: ranges, threads: [] };
  const loads = Array.from({ length: config.threads }, () => ({ records: 0, ranges: [] as PartitionRange[] }));
  const [here] = loads;
  if (!here) return { here: ranges, threads: [] };
  for (const range of ranges.filter((r) => !movable(r))) {
    here.ranges.push(range);
    here.records += recordsIn(range);
  }
  for (const range of ranges.filter(movable).sort((a, b) => recordsIn(b) - recordsIn(a))) {
    const lightest = loads.reduce((least, load) => (load.records < least.records ? load : least));
    lightest.ranges.push(range);
    lightest.records += recordsIn(range);
  }
  const byPartition = (a: PartitionRange, b: PartitionRange): number => a.partition - b.partition;
  return { here: here.ranges.sort(byPartition), threads: loads.slice(1).filter((load) => load.ranges.length > 0).map((load) => load.ranges.sort(byPartition)) };
}

/**
 * Folds `ranges` of `topic`: the plan's share for this thread through `readHere` (the caller's own
 * reader and states), the rest from empty states on fold threads at the same time. Resolves with
 * what the threads folded, for the caller to adopt. When a thread fails (or cannot start), its
 * ranges are read through `readHere` after all, with a log line: threads only ever speed it up.
 */
export async function foldRanges(options: {
  readonly config: FoldThreadsConfig | undefined;
  readonly topic: string;
  readonly ranges: readonly PartitionRange[];
  /** Ranges that may go to a thread (a thread starts from an empty state). */
  readonly movable: (range: PartitionRange) => boolean;
  readonly readHere: (ranges: readonly PartitionRange[]) => Promise<void>;
  readonly logger: LeaseProcessorLogger;
  readonly stopped?: () => boolean;
}): Promise<Map<number, FoldedPartition>> {
  const { config, topic, logger } = options;
  const plan = config ? planFold(options.ranges, config, options.movable) : { here: options.ranges, threads: [] };
  if (!config || plan.threads.length === 0) {
    await options.readHere(plan.here);
    return new Map();
  }
  const elsewhere = foldOnThreads(config, topic, plan.threads, logger, options.stopped).then(
    (folded) => ({ folded }),
    (error: unknown) => ({ error }),
  );
  await options.readHere(plan.here);
  const outcome = await elsewhere;
  if ('folded' in outcome) return outcome.folded;
  if (options.stopped?.()) return new Map();
  logger.warn({ event: 'fold_threads_failed', topic, err: outcome.error }, 'folding on threads failed; folding those partitions on this thread');
  await options.readHere(plan.threads.flat());
  return new Map();
}

/** Folds each group of ranges from empty states on a thread of its own; rejects (ending every thread) when one fails or `stopped()` turns true. */
async function foldOnThreads(
  config: Pick<FoldThreadsConfig, 'bus'>,
  topic: string,
  groups: readonly (readonly PartitionRange[])[],
  logger: LeaseProcessorLogger,
  stopped: () => boolean = () => false,
): Promise<Map<number, FoldedPartition>> {
  const workers: Worker[] = [];
  const stopWatch = setInterval(() => {
    if (stopped()) for (const worker of workers) void worker.terminate();
  }, 250);
  try {
    const results = await Promise.all(
      groups.map((ranges) => {
        const worker = startFoldThread({ bus: config.bus, topic, ranges });
        workers.push(worker);
        return resultOf(worker, logger);
      }),
    );
    const folded = new Map<number, FoldedPartition>();
    for (const transferred of results.flat()) folded.set(transferred.partition, { ledger: ledgerOf(transferred), applied: transferred.applied });
    return folded;
  } finally {
    clearInterval(stopWatch);
    // Not waited for: a thread that has handed its ledgers over is only closing its connections.
    for (const worker of workers) void worker.terminate();
  }
}

function resultOf(worker: Worker, logger: LeaseProcessorLogger): Promise<readonly TransferredLedger[]> {
  return new Promise((resolve, reject) => {
    worker.on('message', (message: FoldThreadMessage) => {
      switch (message.kind) {
        case 'folded':
          return resolve(message.ledgers);
        case 'failed':
          return reject(new Error(`fold thread failed: ${message.message}`));
        case 'log':
          return logger[message.level]({ ...message.fields, thread: worker.threadId }, message.message);
        default: {
          const unknown: never = message;
          return reject(new Error(`unknown fold thread message ${JSON.stringify(unknown)}`));
        }
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`fold thread ended (exit code ${code}) before handing its partitions over`)));
  });
}

/**
 * Built (dist/), the thread runs the compiled entry next to this file. From source (tsx, Jest) it
 * compiles the TypeScript entry itself, through tsx (a development dependency).
 */
function startFoldThread(input: FoldThreadInput): Worker {
  const compiled = join(__dirname, 'fold-thread.js');
  if (existsSync(compiled)) return new Worker(compiled, { workerData: input });
  const source = join(__dirname, 'fold-thread.ts');
  const bootstrap = `require(${JSON.stringify(require.resolve('tsx/cjs/api'))}).register(); require(${JSON.stringify(source)});`;
  return new Worker(bootstrap, { eval: true, workerData: input });
}
