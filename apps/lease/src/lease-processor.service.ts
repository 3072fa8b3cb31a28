import { Inject, Injectable } from '@nestjs/common';
import { CheckpointSigner, ensureStateTopics, LeaseProcessor, SnapshotPolicy, stateTopicsOf } from '@license-ledger/lease-ledger';
import { MessageBus } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { BusTransport, LOGGER, MESSAGE_BUS, MetricsRegistry, PLATFORM_OPTIONS, PlatformOptions, type BusEngine } from '@license-ledger/platform-nest';

export const LEASE_OPTIONS = Symbol('LEASE_OPTIONS');

/** Names on the cluster; overridable so several ledgers (or test runs) can share one cluster. */
export interface LeaseOptions {
  readonly commandsTopic: string;
  readonly eventsTopic: string;
  readonly repliesTopic: string;
  readonly groupId: string;
  readonly snapshotPolicy: SnapshotPolicy;
  /** Signs the events chain's checkpoints; without it the chain is written unsigned (a warning at start). */
  readonly ledgerKey?: CheckpointSigner | undefined;
  /** Threads that fold partitions without a snapshot at start (1: this thread alone), and from how many records on. */
  readonly foldThreads: { readonly threads: number; readonly minRecords: number };
}

/**
 * The ledger engine as an engine of the bus transport: started when the transport listens
 * (retried while the broker is away), `ledger` in /health/ready, stopped when the transport closes.
 */
@Injectable()
export class LeaseProcessorService implements BusEngine {
  readonly name = 'ledger';
  private processor: LeaseProcessor;
  /** The compacted topics next to the events topic (snapshots, key directory), created if missing. */
  private stateTopics: Promise<unknown> | undefined;

  constructor(
    @Inject(MESSAGE_BUS) private readonly bus: MessageBus,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(PLATFORM_OPTIONS) private readonly platform: PlatformOptions,
    @Inject(LEASE_OPTIONS) private readonly options: LeaseOptions,
    private readonly metrics: MetricsRegistry,
    transport: BusTransport,
  ) {
    this.processor = this.newProcessor();
    transport.addEngine(this);
    if (!options.ledgerKey) {
      logger.warn({ event: 'ledger_unsigned' }, 'LEDGER_SIGN_KEY_FILE is not set: events are chained, but no checkpoint is signed (docs/ledger-integrity.md)');
    }
  }

  async start(): Promise<void> {
    try {
      this.stateTopics ??= ensureStateTopics(this.platform.kafkaBrokers, this.bus, this.options.eventsTopic).catch((error: unknown) => {
        this.stateTopics = undefined;
        throw error;
      });
      await this.stateTopics;
      await this.processor.start();
    } catch (error) {
      // A processor that half started (one subscription up) is not started again: stop it and
      // leave a fresh one for the transport's next attempt.
      await this.processor.stop().catch(() => undefined);
      this.processor = this.newProcessor();
      throw error;
    }
  }

  stop(): Promise<void> {
    return this.processor.stop();
  }

  private newProcessor(): LeaseProcessor {
    const { options } = this;
    return new LeaseProcessor({
      bus: this.bus,
      topics: { commands: options.commandsTopic, events: options.eventsTopic, replies: options.repliesTopic, ...stateTopicsOf(options.eventsTopic) },
      groupId: options.groupId,
      snapshotPolicy: options.snapshotPolicy,
      ...(options.ledgerKey ? { ledgerKey: options.ledgerKey } : {}),
      foldThreads: {
        ...options.foldThreads,
        bus: { clientId: `${this.platform.service}-${this.platform.instanceId}-fold`, brokers: this.platform.kafkaBrokers },
      },
      instanceId: this.platform.instanceId,
      logger: this.logger.child({ component: 'ledger' }),
      // Written inside the ledger's transactions, so counted here rather than by the bus.
      onDeadLetter: ({ topic, group }) => this.metrics.deadLettered.inc({ topic, group }),
    });
  }
}
