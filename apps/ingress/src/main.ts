import 'reflect-metadata';
import { runService } from '@license-ledger/platform-nest';
import { keyId } from '@license-ledger/protocol-crypto';
import { ingressConfigShape, ingressOptions } from './config';
import { createIngressModule } from './ingress.module';

void runService({
  service: 'ingress',
  defaultPort: 3000,
  extraConfig: ingressConfigShape,
  // Key files and certificates that do not load are configuration errors, named with the rest.
  prepare: ingressOptions,
  createModule: (options, platform) => createIngressModule(platform, options),
  nestOptions: (options) => ({
    // The license endpoint reads its binary body itself, with its own limit and error bodies.
    bodyParser: false,
    // A TLS handshake must finish as fast as plain headers must arrive (Node's default allows 120 s).
    ...(options.tls ? { httpsOptions: { cert: options.tls.cert, key: options.tls.key, handshakeTimeout: options.http.headersMs } } : {}),
  }),
  describe: (options) => ({ box_key_id: keyId(options.boxKey.publicKey), sign_key_id: options.signingKey.keyId }),
});
