import type { MessagePublisher, OutgoingMessage } from './message-bus';

interface Queued {
  readonly message: OutgoingMessage;
  readonly sent?: (error?: unknown) => void;
}

/**
 * Publishes to one topic with one publish in flight at a time, each taking everything queued
 * meanwhile. The producer sends one request at a time anyway (idempotent, in order), so a publish
 * per message would queue one broker round trip each behind the others.
 */
export class BatchingPublisher {
  private queue: Queued[] = [];
  private flushing: Promise<void> | undefined;
  private scheduled = false;

  /** `onBatch` hears of every publish: how many messages it carried and, if it failed, why. */
  constructor(
    private readonly publisher: MessagePublisher,
    private readonly topic: string,
    private readonly onBatch?: (messages: number, error?: unknown) => void,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** Queues `message` for the next publish and returns at once. */
  enqueue(message: OutgoingMessage): void {
    this.push({ message });
  }

  /** Queues `message`; resolves once it is published, rejects with the publish's error. */
  send(message: OutgoingMessage): Promise<void> {
    return new Promise((resolve, reject) => this.push({ message, sent: (error) => (error === undefined ? resolve() : reject(error)) }));
  }

  /** Publishes what is queued (and what queues up meanwhile) until the queue is empty. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
      // Queued after the loop's last look and before this: nobody else would send it.
      if (this.queue.length > 0) void this.flush();
    });
    return this.flushing;
  }

  private push(entry: Queued): void {
    this.queue.push(entry);
    if (this.scheduled || this.flushing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      let failure: unknown;
      try {
        await this.publisher.publish(this.topic, batch.map((entry) => entry.message));
      } catch (error) {
        failure = error ?? new Error('publish failed');
      }
      this.onBatch?.(batch.length, failure);
      for (const entry of batch) entry.sent?.(failure);
    }
  }
}
