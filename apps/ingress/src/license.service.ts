import { Inject, Injectable, OnApplicationShutdown } from '@nestjs/common';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MetricsRegistry, PLATFORM_OPTIONS, type PlatformOptions } from '@license-ledger/platform-nest';
import { LicenseServerCrypto } from '@license-ledger/protocol-exchange';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { IngressOptions } from './config';
import { LedgerService } from './ledger.service';
import { LicenseHandler } from './license-handler';
import { TelemetryPublisher } from './telemetry';
import { INGRESS_OPTIONS } from './tokens';

/** Wires the license handler to the platform: crypto keys, ledger, telemetry, logs and metrics. */
@Injectable()
export class LicenseService implements OnApplicationShutdown {
  readonly crypto: LicenseServerCrypto;
  readonly handler: LicenseHandler;
  readonly telemetry: TelemetryPublisher;
  /**
   * Telemetry has a producer of its own: the platform's producer is idempotent with one request in
   * flight, so telemetry batches on it would queue the ledger commands behind them.
   */
  private readonly telemetryBus: KafkaJsMessageBus;

  constructor(
    @Inject(LOGGER) logger: Logger,
    @Inject(PLATFORM_OPTIONS) platform: PlatformOptions,
    @Inject(INGRESS_OPTIONS) readonly options: IngressOptions,
    @Inject(LedgerService) ledger: LedgerService,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
  ) {
    this.crypto = new LicenseServerCrypto({ boxKey: options.boxKey, signingKey: options.signingKey, cacheCapacity: options.sharedKeyCacheSize });
    const answers = new Counter({
      name: 'license_answers_total',
      help: 'Answers to POST /v1/license by status and reason',
      labelNames: ['status', 'reason'],
      registers: [metrics.registry],
    });
    const ledgerSeconds = new Histogram({
      name: 'license_ledger_answer_seconds',
      help: 'Time from sending AcquireLock to the ledger until its answer arrived',
      buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
      registers: [metrics.registry],
    });
    const telemetry = (): TelemetryPublisher => this.telemetry;
    new Gauge({
      name: 'license_telemetry_dropped',
      help: 'Telemetry records dropped (queue full or publish failed) since start',
      registers: [metrics.registry],
      collect(this: Gauge): void {
        this.set(telemetry().dropped);
      },
    });
    this.telemetryBus = new KafkaJsMessageBus({
      clientId: `ingress-telemetry-${platform.instanceId}`,
      brokers: platform.kafkaBrokers,
      logger: logger.child({ component: 'kafka-telemetry' }),
    });
    this.telemetry = new TelemetryPublisher({
      bus: this.telemetryBus,
      topic: options.topics.telemetry,
      onError: (error, dropped) => logger.warn({ event: 'telemetry_publish_failed', dropped, err: error }, 'telemetry could not be published; dropped'),
      onUnstorable: (reason, envelope) =>
        logger.warn({ event: 'telemetry_unstorable', reason, key_fingerprint: envelope.key_fingerprint, agreement_id: envelope.agreement_id }, 'telemetry the metrics service cannot store; dropped'),
    });
    this.handler = new LicenseHandler({
      crypto: this.crypto,
      ledger,
      telemetry: this.telemetry,
      logger: logger.child({ component: 'license' }),
      instanceId: platform.instanceId,
      ledgerTimeoutMs: options.ledgerTimeoutMs,
      retryAfterSeconds: options.retryAfterSeconds,
      maxBodyBytes: options.maxBodyBytes,
      requestTimeWindowMs: options.requestTimeWindowMs,
      keyRate: options.keyRate,
      addressRate: options.addressRate,
      onAnswer: (status, reason) => answers.inc({ status: String(status), reason }),
      onLedgerAnswer: (seconds) => ledgerSeconds.observe(seconds),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.telemetry.flush();
    await this.telemetryBus.close();
  }
}
