import 'reflect-metadata';
import { runService } from '@license-ledger/platform-nest';
import { createLeaseModule } from './lease.module';

void runService({
  service: 'lease',
  defaultPort: 3001,
  extraConfig: {},
  createModule: (_config, platform) => createLeaseModule(platform),
});
