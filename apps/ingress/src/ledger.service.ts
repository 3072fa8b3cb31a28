import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import type { AcquireLock, LeaseOutcome, ReleaseLock } from '@license-ledger/lease-domain';
import { ensureStateTopics, KeyBindingDirectory, LedgerClient, replyReader, stateTopicsOf } from '@license-ledger/lease-ledger';
import type { BatchContext, MessageBus, ReceivedMessage } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { BusTransport, LOGGER, MESSAGE_BUS, PLATFORM_OPTIONS, type BusRoutes, type PlatformOptions } from '@license-ledger/platform-nest';
import type { IngressOptions } from './config';
import type { LedgerPort } from './license-handler';
import { INGRESS_OPTIONS } from './tokens';

/** Replies are keyed by this: one id per ingress instance. */
const replyKey = (platform: PlatformOptions): string => `ingress-${platform.instanceId}`;

/**
 * What the ingress reads of the ledger (LedgerController handles both): the replies to its own
 * commands, from the one partition they land on (assigned, no consumer group), and the key
 * directory topic, the live bindings the lease service writes with the events that change them
 * (compacted: its size is the keys bound now, not the ledger's history): read up to its end at
 * start (`key_directory` is `loading` until then), then as it changes, through a group of its own.
 */
export function ledgerRoutes(platform: PlatformOptions, options: IngressOptions): BusRoutes {
  const { events, replies } = options.topics;
  const reader = replyReader({ instanceId: replyKey(platform), groupPrefix: options.groupPrefix });
  return {
    leaseReplies: { kind: 'key-partition', topic: replies, key: reader.key, name: reader.name, readiness: 'ledger_replies', maxWaitMs: 50, deadLetter: { topic: reader.deadLetterTopic } },
    leaseKeyDirectory: { kind: 'catch-up', topic: stateTopicsOf(events).keyDirectory, groupId: `${options.groupPrefix}.keys.${platform.instanceId}`, readiness: 'key_directory', maxWaitMs: 100 },
  };
}

/** How often the ingress tries again to create a missing key directory topic. */
const ENSURE_TOPICS_RETRY_MS = 2_000;

/**
 * The ingress's view of the lease ledger: a LedgerClient (commands out; replies back through the
 * bus transport) and a KeyBindingDirectory (key -> agreement). Both are fed by LedgerController;
 * until both routes read, every license request is answered 503.
 */
@Injectable()
export class LedgerService implements LedgerPort, OnModuleDestroy {
  private readonly client: LedgerClient;
  private readonly directory: KeyBindingDirectory;
  private readonly stopping = new AbortController();

  constructor(
    @Inject(MESSAGE_BUS) bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(PLATFORM_OPTIONS) platform: PlatformOptions,
    @Inject(INGRESS_OPTIONS) options: IngressOptions,
    private readonly transport: BusTransport,
  ) {
    const { commands, events, replies } = options.topics;
    this.client = new LedgerClient({ bus, topics: { commands, events, replies }, instanceId: replyKey(platform), groupPrefix: options.groupPrefix });
    this.directory = new KeyBindingDirectory((message, error) =>
      this.logger.warn({ event: 'malformed_key_binding', partition: message.partition, offset: message.offset, err: error }, 'skipping a key binding record that does not decode'),
    );
    // The lease service creates the topic too; an ingress started first (or alone) must not wait for it.
    void this.ensureKeyDirectoryTopic(platform.kafkaBrokers, bus, events);
    void transport.whenLive('leaseKeyDirectory').then(() => this.logger.info({ event: 'keys_loaded', keys: this.directory.size }, 'key directory loaded'));
  }

  onModuleDestroy(): void {
    this.stopping.abort();
  }

  get ready(): boolean {
    return this.transport.isLive('leaseReplies') && this.transport.isLive('leaseKeyDirectory');
  }

  agreementOf(gatewayKey: string): string | undefined {
    return this.directory.agreementOf(gatewayKey);
  }

  send(command: AcquireLock | ReleaseLock, timeoutMs: number): Promise<LeaseOutcome> {
    return this.client.send(command, timeoutMs);
  }

  receiveReplies(messages: readonly ReceivedMessage[], batch: Pick<BatchContext, 'deadLetter'>): void {
    this.client.receive(messages, batch);
  }

  applyKeyBindings(messages: readonly ReceivedMessage[]): void {
    this.directory.applyRecords(messages);
  }

  private async ensureKeyDirectoryTopic(brokers: readonly string[], bus: MessageBus, eventsTopic: string): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await ensureStateTopics(brokers, bus, eventsTopic);
        return;
      } catch (error) {
        this.logger.warn({ event: 'key_directory_topic_missing', err: error }, 'cannot create the key directory topic yet; trying again');
        await new Promise((resolve) => setTimeout(resolve, ENSURE_TOPICS_RETRY_MS).unref());
      }
    }
  }
}
