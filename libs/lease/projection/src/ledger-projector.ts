import { decodeLedgerRecord } from '@license-ledger/lease-ledger';
import { BatchContext, MessageBus, ReceivedMessage, Subscription, Topics } from '@license-ledger/platform-kafka';
import { BatchResult, LedgerProjection, PositionedRecord } from './ledger-projection';

export interface ProjectorLogger {
  error(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface LedgerProjectorOptions {
  readonly bus: MessageBus;
  readonly projection: LedgerProjection;
  readonly eventsTopic: string;
  /** Shared by every projector of this ledger, so each partition is projected by one of them. */
  readonly groupId: string;
  /** Where records that cannot be projected go (default Topics.deadLetters.name). */
  readonly deadLetterTopic?: string;
  readonly logger: ProjectorLogger;
  /** After each projected batch (metrics). */
  readonly onBatch?: (result: BatchResult & { readonly malformed: number; readonly partition: number }) => void;
}

/**
 * Keeps the projection up to date from the events topic. Offsets are committed after a batch's
 * transaction commits, so a crash re-delivers and the projection's idempotence absorbs it. A record
 * the database refuses for good (e.g. text with U+0000) is dead-lettered by the bus rather than
 * retried forever: the projection is a read model, and `ledger-cli verify` reads the log itself.
 */
export class LedgerProjector {
  private subscription: Subscription | undefined;

  constructor(private readonly options: LedgerProjectorOptions) {}

  async start(): Promise<void> {
    const { bus, eventsTopic, groupId } = this.options;
    this.subscription = await bus.subscribe({
      groupId,
      topics: [eventsTopic],
      fromBeginning: true,
      commit: 'after-handler',
      maxWaitMs: 200,
      deadLetter: { topic: this.options.deadLetterTopic ?? Topics.deadLetters.name },
      onMessages: async (messages, batch) => {
        await this.project(batch.partition, messages, batch);
      },
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  /** `batch` (when consuming) receives the records that cannot be decoded, as dead letters. */
  async project(partition: number, messages: readonly ReceivedMessage[], batch?: Pick<BatchContext, 'deadLetter'>): Promise<BatchResult> {
    const records: PositionedRecord[] = [];
    let malformed = 0;
    for (const message of messages) {
      try {
        records.push({ partition: message.partition, offset: BigInt(message.offset), record: decodeLedgerRecord(message.value) });
      } catch (error) {
        // Skipped so the rest of the partition stays visible; `ledger-cli verify` reports the record.
        malformed++;
        this.options.logger.error({ event: 'malformed_ledger_record', partition: message.partition, offset: message.offset, err: error }, 'cannot project ledger record; skipped');
        batch?.deadLetter(message, `malformed ledger record: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    const result = await this.options.projection.applyBatch(records);
    this.options.onBatch?.({ ...result, malformed, partition });
    this.options.logger.debug({ event: 'projected', partition, ...result, malformed }, 'ledger batch projected');
    return result;
  }
}
