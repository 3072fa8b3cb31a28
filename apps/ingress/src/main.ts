import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { ConfigError, loadConfig, serviceConfigShape } from '@license-ledger/platform-config';
import { createLogger, type Logger } from '@license-ledger/platform-logging';
import { NestJsonLogger, type PlatformOptions } from '@license-ledger/platform-nest';
import { keyId } from '@license-ledger/protocol-crypto';
import { ingressConfigShape, ingressOptions } from './config';
import { createIngressModule } from './ingress.module';

type Attempt<T> = { ok: true; value: T } | { ok: false; problems: readonly string[] };

function attempt<T>(load: () => T): Attempt<T> {
  try {
    return { ok: true, value: load() };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, problems: error.problems };
    throw error;
  }
}

/**
 * Like runService (validate everything, exit 1 naming each bad variable), plus what runService has
 * no hook for: HTTPS when TLS_CERT_FILE/TLS_KEY_FILE are set, and no body parsers (the license
 * endpoint reads its binary body itself, with its own limit and error bodies).
 */
async function main(): Promise<void> {
  let logger: Logger = createLogger('ingress');
  try {
    const common = attempt(() => loadConfig(serviceConfigShape(3000)));
    const extra = attempt(() => loadConfig(ingressConfigShape));
    const derived = extra.ok ? ingressOptions(extra.value) : undefined;
    const problems = [...(common.ok ? [] : common.problems), ...(extra.ok ? [] : extra.problems), ...(derived && 'problems' in derived ? derived.problems : [])];
    if (!common.ok || !derived || !('options' in derived)) throw new ConfigError(problems);
    const config = common.value;
    const options = derived.options;
    logger = createLogger('ingress', config.LOG_LEVEL);
    const platform: PlatformOptions = {
      service: 'ingress',
      instanceId: config.INSTANCE_ID,
      logger,
      kafkaBrokers: config.KAFKA_BROKERS,
      databaseUrl: config.DATABASE_URL,
      databasePoolSize: config.DATABASE_POOL_SIZE,
    };
    const app = await NestFactory.create(createIngressModule(platform, options), {
      logger: new NestJsonLogger(logger),
      bufferLogs: false,
      bodyParser: false,
      // Gateways renew over keep-alive connections: without this, SIGTERM would wait for them forever.
      forceCloseConnections: true,
      ...(options.tls ? { httpsOptions: { cert: options.tls.cert, key: options.tls.key } } : {}),
    });
    app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
    await app.listen(config.PORT, config.HOST);
    const address = app.getHttpServer().address() as { port: number } | string | null;
    const port = typeof address === 'object' && address !== null ? address.port : config.PORT;
    const url = `${options.tls ? 'https' : 'http'}://${config.HOST}:${port}`;
    logger.info(
      { event: 'listening', url, box_key_id: keyId(options.boxKey.publicKey), sign_key_id: options.signingKey.keyId },
      `ingress listening on ${url}`,
    );
  } catch (error) {
    if (error instanceof ConfigError) logger.fatal({ event: 'invalid_config', problems: error.problems }, error.message);
    else logger.fatal({ event: 'boot_failed', err: error }, 'service failed to start');
    logger.flush();
    process.exitCode = 1;
    setTimeout(() => process.exit(1), 100).unref();
  }
}

void main();
