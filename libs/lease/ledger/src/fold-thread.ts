/**
 * The entry of a fold thread (fold-threads.ts starts it): reads its partitions of the events topic
 * with a MessageBus of its own, folds each into a PartitionLedger and hands them over, moved, not
 * copied. Loaded only as a worker thread; importing it elsewhere does nothing.
 */
import { isMainThread, MessagePort, parentPort, workerData } from 'node:worker_threads';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import type { FoldThreadInput, FoldThreadMessage } from './fold-threads';
import { transferListOf, transferOf } from './ledger-transfer';
import { PartitionLedger } from './partition-ledger';

async function fold(input: FoldThreadInput, port: MessagePort): Promise<void> {
  const post = (message: FoldThreadMessage, transfer: readonly ArrayBuffer[] = []): void => port.postMessage(message, transfer);
  const log =
    (level: 'error' | 'warn' | 'info') =>
    (fields: object, message: string): void => {
      try {
        post({ kind: 'log', level, fields, message });
      } catch {
        // Fields that cannot be cloned to the other thread (a socket, a function): the line still goes.
        post({ kind: 'log', level, fields: { fields: String(fields) }, message });
      }
    };
  const bus = new KafkaJsMessageBus({ ...input.bus, logger: { error: log('error'), warn: log('warn'), info: log('info'), debug: () => undefined } });
  try {
    const ledgers = new Map(input.ranges.map((range) => [range.partition, { ledger: new PartitionLedger(range.partition), applied: 0 }]));
    await bus.readRanges({
      topic: input.topic,
      ranges: input.ranges,
      onMessages: (messages) => {
        const folding = ledgers.get(messages[0]?.partition ?? -1);
        if (folding) folding.applied += folding.ledger.applyBatchFromLog(messages);
      },
    });
    const transferred = [...ledgers.values()].map(({ ledger, applied }) => transferOf(ledger, applied));
    post({ kind: 'folded', ledgers: transferred }, transferListOf(transferred));
  } finally {
    await bus.close().catch(() => undefined);
  }
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  fold(workerData as FoldThreadInput, port).catch((error: unknown) =>
    port.postMessage({ kind: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) } satisfies FoldThreadMessage),
  );
}
