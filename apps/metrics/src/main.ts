import 'reflect-metadata';
import { runService } from '@license-ledger/platform-nest';
import { z } from 'zod';
import { createMetricsModule } from './metrics.module';

void runService({
  service: 'metrics',
  defaultPort: 3002,
  extraConfig: {
    TELEMETRY_CONSUMER_GROUP: z.string().min(1).default('license-ledger.metrics-sink'),
  },
  createModule: (config, platform) => createMetricsModule(platform, { consumerGroup: config.TELEMETRY_CONSUMER_GROUP }),
});
