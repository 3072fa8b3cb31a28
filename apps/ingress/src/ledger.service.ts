import { Inject, Injectable, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { AcquireLock, LeaseOutcome } from '@license-ledger/lease-domain';
import { KeyDirectory, LedgerClient } from '@license-ledger/lease-ledger';
import type { MessageBus } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MESSAGE_BUS, NotReady, PLATFORM_OPTIONS, READINESS_PROBES, type PlatformOptions, type ReadinessProbe } from '@license-ledger/platform-nest';
import type { LedgerPort } from './license-handler';
import { INGRESS_OPTIONS } from './tokens';
import type { IngressOptions } from './config';

/**
 * The ingress's view of the lease ledger: a LedgerClient (commands out, replies back through a
 * consumer group of this instance's own) and a KeyDirectory (key -> agreement, folded from the
 * ledger's events by another group of its own). Both start in the background, so the service boots
 * (and answers 503) while Kafka is away.
 */
@Injectable()
export class LedgerService implements LedgerPort, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly client: LedgerClient;
  private readonly directory: KeyDirectory;
  private clientStarted = false;
  private starting: Promise<void> | undefined;
  private stopping = false;

  constructor(
    @Inject(MESSAGE_BUS) bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(PLATFORM_OPTIONS) platform: PlatformOptions,
    @Inject(INGRESS_OPTIONS) options: IngressOptions,
    @Inject(READINESS_PROBES) probes: ReadinessProbe[],
  ) {
    const { commands, events, replies } = options.topics;
    this.client = new LedgerClient({ bus, topics: { commands, events, replies }, instanceId: `ingress-${platform.instanceId}`, groupPrefix: options.groupPrefix });
    this.directory = new KeyDirectory({
      bus,
      eventsTopic: events,
      groupId: `${options.groupPrefix}.keys.${platform.instanceId}`,
      onMalformed: (message, error) => this.logger.warn({ event: 'malformed_ledger_record', partition: message.partition, offset: message.offset, err: error }, 'skipping a ledger record that does not decode'),
    });
    // Until both run, every license request is answered 503: the instance is not ready for traffic.
    probes.push(
      {
        name: 'key_directory',
        check: async () => {
          if (!this.directory.ready) throw new NotReady('loading', 'the key directory is still reading the ledger');
        },
      },
      {
        name: 'ledger_replies',
        check: async () => {
          if (!this.clientStarted) throw new NotReady('starting', 'the ledger reply consumer has not started yet');
        },
      },
    );
  }

  get ready(): boolean {
    return this.clientStarted && this.directory.ready;
  }

  agreementOf(gatewayKey: string): string | undefined {
    return this.directory.agreementOf(gatewayKey);
  }

  send(command: AcquireLock, timeoutMs: number): Promise<LeaseOutcome> {
    return this.client.send(command, timeoutMs);
  }

  onApplicationBootstrap(): void {
    this.starting = Promise.all([
      this.untilStarted('ledger replies', () => this.client.start()).then(() => {
        this.clientStarted = true;
      }),
      this.untilStarted('key directory', () => this.directory.start()).then(() => {
        if (!this.stopping) this.logger.info({ event: 'keys_loaded', keys: this.directory.size }, 'key directory loaded from the ledger');
      }),
    ]).then(() => undefined);
  }

  private async untilStarted(what: string, start: () => Promise<void>): Promise<void> {
    while (!this.stopping) {
      try {
        await start();
        return;
      } catch (error) {
        this.logger.warn({ event: 'ledger_start_failed', what, err: error }, `cannot start the ${what} yet; retrying`);
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    await this.starting;
    await Promise.allSettled([this.client.stop(), this.directory.stop()]);
  }
}
