import { Inject, Injectable } from '@nestjs/common';
import type { AcquireLock, LeaseOutcome } from '@license-ledger/lease-domain';
import { KeyDirectory, LedgerClient, replyReader } from '@license-ledger/lease-ledger';
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
 * commands, from the one partition they land on (assigned, no consumer group), and the events,
 * folded into the key directory: all of them up to the end at start (`key_directory` is `loading`
 * until then), then as they come, through a group of this instance's own.
 */
export function ledgerRoutes(platform: PlatformOptions, options: IngressOptions): BusRoutes {
  const { events, replies } = options.topics;
  const reader = replyReader({ instanceId: replyKey(platform), groupPrefix: options.groupPrefix });
  return {
    leaseReplies: { kind: 'key-partition', topic: replies, key: reader.key, name: reader.name, readiness: 'ledger_replies', maxWaitMs: 50, deadLetter: { topic: reader.deadLetterTopic } },
    // Key bindings change rarely and may take a moment to show; most records here are grants and
    // renewals: read them in a few large fetches a second rather than one per transaction.
    leaseEvents: { kind: 'catch-up', topic: events, groupId: `${options.groupPrefix}.keys.${platform.instanceId}`, readiness: 'key_directory', maxWaitMs: 200, minBytes: 256 * 1024 },
  };
}

/**
 * The ingress's view of the lease ledger: a LedgerClient (commands out; replies back through the
 * bus transport) and a KeyDirectory (key -> agreement). Both are fed by LedgerController; until
 * both routes read, every license request is answered 503.
 */
@Injectable()
export class LedgerService implements LedgerPort {
  private readonly client: LedgerClient;
  private readonly directory: KeyDirectory;

  constructor(
    @Inject(MESSAGE_BUS) bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(PLATFORM_OPTIONS) platform: PlatformOptions,
    @Inject(INGRESS_OPTIONS) options: IngressOptions,
    private readonly transport: BusTransport,
  ) {
    const { commands, events, replies } = options.topics;
    this.client = new LedgerClient({ bus, topics: { commands, events, replies }, instanceId: replyKey(platform), groupPrefix: options.groupPrefix });
    this.directory = new KeyDirectory({
      bus,
      eventsTopic: events,
      groupId: `${options.groupPrefix}.keys.${platform.instanceId}`,
      onMalformed: (message, error) => this.logger.warn({ event: 'malformed_ledger_record', partition: message.partition, offset: message.offset, err: error }, 'skipping a ledger record that does not decode'),
    });
    void transport.whenLive('leaseEvents').then(() => this.logger.info({ event: 'keys_loaded', keys: this.directory.size }, 'key directory loaded from the ledger'));
  }

  get ready(): boolean {
    return this.transport.isLive('leaseReplies') && this.transport.isLive('leaseEvents');
  }

  agreementOf(gatewayKey: string): string | undefined {
    return this.directory.agreementOf(gatewayKey);
  }

  send(command: AcquireLock, timeoutMs: number): Promise<LeaseOutcome> {
    return this.client.send(command, timeoutMs);
  }

  receiveReplies(messages: readonly ReceivedMessage[], batch: Pick<BatchContext, 'deadLetter'>): void {
    this.client.receive(messages, batch);
  }

  applyEvents(messages: readonly ReceivedMessage[]): void {
    this.directory.applyMessages(messages);
  }
}
