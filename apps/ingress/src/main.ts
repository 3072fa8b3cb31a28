import 'reflect-metadata';
import { runService } from '@license-ledger/platform-nest';
import { keyId } from '@license-ledger/protocol-crypto';
import { ingressConfigShape, ingressOptions } from './config';
import { ingressHttpAdapter, ingressNestOptions } from './http-adapter';
import { createIngressModule } from './ingress.module';

void runService({
  service: 'ingress',
  defaultPort: 3000,
  extraConfig: ingressConfigShape,
  // Key files and certificates that do not load are configuration errors, named with the rest.
  prepare: ingressOptions,
  createModule: (options, platform) => createIngressModule(platform, options),
  nestOptions: ingressNestOptions,
  httpAdapter: ingressHttpAdapter,
  describe: (options) => ({ box_key_id: keyId(options.boxKey.publicKey), sign_key_id: options.signingKey.keyId, http_adapter: options.httpAdapter }),
});
