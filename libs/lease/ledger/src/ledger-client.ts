import { LeaseCommand, LeaseOutcome } from '@license-ledger/lease-domain';
import { BatchContext, BatchingPublisher, errorReason, MessageBus, ReceivedMessage, Subscription, Topics } from '@license-ledger/platform-kafka';
import { CommandEnvelope, decodeReplyEnvelope, encodeJson } from './records';
import type { LedgerTopics } from './lease-processor';

export class LedgerTimeoutError extends Error {
  constructor(readonly requestId: string, timeoutMs: number) {
    super(`the lease ledger did not answer request ${requestId} within ${timeoutMs} ms`);
    this.name = 'LedgerTimeoutError';
  }
}

export interface LedgerClientOptions {
  readonly bus: MessageBus;
  readonly topics: LedgerTopics;
  /** This instance's id: replies are keyed by it. Must be unique among running instances. */
  readonly instanceId: string;
  /** Names this instance's reply reader in logs and dead letters (`<groupPrefix>.replies.<instanceId>`). */
  readonly groupPrefix: string;
  /** Where unreadable replies go (default Topics.deadLetters.name). */
  readonly deadLetterTopic?: string;
}

/** How a client's replies are read: by its id (their key), named after it, unreadable ones dead-lettered. */
export interface ReplyReader {
  readonly key: string;
  readonly name: string;
  readonly deadLetterTopic: string;
}

/** The reply reader of a client with these options (for a service that reads its replies itself and calls receive()). */
export function replyReader(options: Pick<LedgerClientOptions, 'instanceId' | 'groupPrefix' | 'deadLetterTopic'>): ReplyReader {
  return { key: options.instanceId, name: `${options.groupPrefix}.replies.${options.instanceId}`, deadLetterTopic: options.deadLetterTopic ?? Topics.deadLetters.name };
}

/**
 * Sends commands to the lease ledger and waits for their outcomes. Replies come back on the
 * replies topic keyed by this instance's id, so they all land on one partition, which this
 * instance alone reads (assigned, no consumer group): no rebalance of the lease service or of other
 * clients can take a reply away, unlike request/reply schemes that bind replies to a shared group's
 * partitions. Other instances whose ids hash to the same partition read it too; each takes its own.
 */
export class LedgerClient {
  private readonly pending = new Map<string, (outcome: LeaseOutcome) => void>();
  private subscription: Subscription | undefined;
  /** Commands queued while a publish is in flight go out together in the next one. */
  private readonly outbox: BatchingPublisher;

  constructor(private readonly options: LedgerClientOptions) {
    this.outbox = new BatchingPublisher(options.bus, options.topics.commands);
  }

  /**
   * Reads this instance's reply partition from its current end, so every reply to a command sent
   * after start() resolves is seen. (A service reads it through the bus transport instead and hands
   * the replies to receive().)
   */
  async start(): Promise<void> {
    const { bus, topics } = this.options;
    const { key, name, deadLetterTopic } = replyReader(this.options);
    const partition = await bus.partitionOf(topics.replies, key);
    this.subscription = await bus.assign({
      name,
      topic: topics.replies,
      partitions: [{ partition, from: 'end' }],
      maxWaitMs: 50,
      deadLetter: { topic: deadLetterTopic },
      onMessages: async (messages, batch) => this.receive(messages, batch),
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }

  /**
   * Settles the requests these replies answer. Replies to other instances (sharing the partition)
   * and to requests no longer waited for (timed out) are dropped; unreadable ones are dead-lettered.
   */
  receive(messages: readonly ReceivedMessage[], batch: Pick<BatchContext, 'deadLetter'>): void {
    for (const message of messages) {
      if (message.key !== this.options.instanceId) continue;
      let reply;
      try {
        reply = decodeReplyEnvelope(message.value);
      } catch (error) {
        // Nobody can be waiting for an answer nobody can read: keep it and read on.
        batch.deadLetter(message, `malformed reply: ${errorReason(error)}`);
        continue;
      }
      this.pending.get(reply.requestId)?.(reply.outcome);
    }
  }

  /**
   * Sends `command` and resolves with its outcome. Sending the same request id again (a retry)
   * gets the first outcome back; the ledger decides each request id once.
   */
  send(command: LeaseCommand, timeoutMs: number): Promise<LeaseOutcome> {
    const requestId = command.metadata.requestId;
    // The deadline covers the publish too (it may wait out a broker outage), and travels with the
    // command: the ledger does not decide it once the asker has stopped waiting.
    const envelope: CommandEnvelope = { command, replyTo: this.options.instanceId, deadlineMs: Date.now() + timeoutMs };
    // One promise settled once, by whichever comes first: answer, timeout or failed publish.
    return new Promise<LeaseOutcome>((resolve, reject) => {
      const settle = (finish: () => void): void => {
        clearTimeout(timer);
        if (this.pending.get(requestId) === answer) this.pending.delete(requestId);
        finish();
      };
      const timer = setTimeout(() => settle(() => reject(new LedgerTimeoutError(requestId, timeoutMs))), timeoutMs);
      const answer = (outcome: LeaseOutcome): void => settle(() => resolve(outcome));
      this.pending.set(requestId, answer);
      this.outbox.send({ key: command.data.agreementId, value: encodeJson(envelope) }).catch((error: unknown) => settle(() => reject(error)));
    });
  }

  /**
   * Sends `command`, and after each timeout sends the same request id again: the ledger answers a
   * repeat with the first outcome, so retrying never decides twice (e.g. across a lease failover).
   */
  async sendUntilAnswered(command: LeaseCommand, attemptTimeoutMs: number, attempts: number): Promise<LeaseOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send(command, attemptTimeoutMs);
      } catch (error) {
        if (!(error instanceof LedgerTimeoutError) || attempt >= attempts) throw error;
      }
    }
  }
}
