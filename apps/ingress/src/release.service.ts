import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, MetricsRegistry } from '@license-ledger/platform-nest';
import { Counter } from 'prom-client';
import type { IngressOptions } from './config';
import { LedgerService } from './ledger.service';
import { LicenseService } from './license.service';
import { ReleaseHandler } from './release-handler';
import { INGRESS_OPTIONS } from './tokens';

/** Wires the release handler to the platform: the license endpoint's crypto, the ledger, logs and metrics. */
@Injectable()
export class ReleaseService {
  readonly handler: ReleaseHandler;

  constructor(
    @Inject(LOGGER) logger: Logger,
    @Inject(INGRESS_OPTIONS) options: IngressOptions,
    @Inject(LicenseService) license: LicenseService,
    @Inject(LedgerService) ledger: LedgerService,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
  ) {
    const answers = new Counter({
      name: 'license_release_answers_total',
      help: 'Answers to POST /v1/license/release by status and reason (200: freed, lingering or still_held)',
      labelNames: ['status', 'reason'],
      registers: [metrics.registry],
    });
    this.handler = new ReleaseHandler({
      crypto: license.crypto,
      ledger,
      logger: logger.child({ component: 'release' }),
      ledgerTimeoutMs: options.ledgerTimeoutMs,
      retryAfterSeconds: options.retryAfterSeconds,
      maxBodyBytes: options.maxBodyBytes,
      requestTimeWindowMs: options.requestTimeWindowMs,
      keyRate: options.keyRate,
      onAnswer: (status, reason) => answers.inc({ status: String(status), reason }),
    });
  }
}
