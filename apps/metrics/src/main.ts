import 'reflect-metadata';
import { Topics } from '@license-ledger/platform-kafka';
import { runService } from '@license-ledger/platform-nest';
import { z } from 'zod';
import { createMetricsModule } from './metrics.module';

void runService({
  service: 'metrics',
  defaultPort: 3002,
  extraConfig: {
    TELEMETRY_CONSUMER_GROUP: z.string().min(1).default('license-ledger.metrics-sink'),
    TELEMETRY_TOPIC: z.string().min(1).default(Topics.telemetry.name),
    API_AUTH_MAX_FAILURES: z.coerce.number().int().min(1).default(10),
    API_AUTH_WINDOW_SECONDS: z.coerce.number().int().min(1).default(60),
    LEASE_EVENTS_TOPIC: z.string().min(1).default(Topics.leaseEvents.name),
    USAGE_HISTORY_CONSUMER_GROUP: z.string().min(1).default('license-ledger.metrics-usage-history'),
  },
  createModule: (config, platform) =>
    createMetricsModule(
      platform,
      { consumerGroup: config.TELEMETRY_CONSUMER_GROUP, topic: config.TELEMETRY_TOPIC },
      { maxFailures: config.API_AUTH_MAX_FAILURES, windowMs: config.API_AUTH_WINDOW_SECONDS * 1000 },
      { consumerGroup: config.USAGE_HISTORY_CONSUMER_GROUP, topic: config.LEASE_EVENTS_TOPIC },
    ),
});
