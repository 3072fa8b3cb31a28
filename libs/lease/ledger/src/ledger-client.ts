import { LeaseCommand, LeaseOutcome } from '@license-ledger/lease-domain';
import { BatchingPublisher, errorReason, MessageBus, Subscription, Topics } from '@license-ledger/platform-kafka';
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
  readonly groupPrefix: string;
  /** Where unreadable replies go (default Topics.deadLetters.name). */
  readonly deadLetterTopic?: string;
}

/**
 * Sends commands to the lease ledger and waits for their outcomes. Replies come back on the
 * replies topic keyed by this instance's id, read through a consumer group of its own: no other
 * member shares it, so no rebalance of the lease service (or of other clients) can take a reply
 * away, unlike request/reply schemes that bind replies to a shared group's partitions.
 */
export class LedgerClient {
  private readonly pending = new Map<string, (outcome: LeaseOutcome) => void>();
  private subscription: Subscription | undefined;
  /** Commands queued while a publish is in flight go out together in the next one. */
  private readonly outbox: BatchingPublisher;

  constructor(private readonly options: LedgerClientOptions) {
    this.outbox = new BatchingPublisher(options.bus, options.topics.commands);
  }

  async start(): Promise<void> {
    const { bus, topics, instanceId, groupPrefix } = this.options;
    this.subscription = await bus.subscribe({
      groupId: `${groupPrefix}.replies.${instanceId}`,
      topics: [topics.replies],
      fromBeginning: false,
      commit: 'none',
      maxWaitMs: 50,
      deadLetter: { topic: this.options.deadLetterTopic ?? Topics.deadLetters.name },
      onMessages: async (messages, batch) => {
        for (const message of messages) {
          if (message.key !== instanceId) continue;
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
      },
    });
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
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
