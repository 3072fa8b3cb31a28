import 'reflect-metadata';
import { runService } from '@license-ledger/platform-nest';
import { createIngressModule } from './ingress.module';

void runService({
  service: 'ingress',
  defaultPort: 3000,
  extraConfig: {},
  createModule: (_config, platform) => createIngressModule(platform),
});
