import { Type } from '@nestjs/common';
import { ConfigError, loadConfig, serviceConfigShape } from '@license-ledger/platform-config';
import { createLogger, Logger } from '@license-ledger/platform-logging';
import { z } from 'zod';
import { startHttpService } from './bootstrap';
import { PlatformOptions } from './platform.module';

export type ServiceConfig = ReturnType<typeof loadServiceConfig>;

function loadServiceConfig(defaultPort: number) {
  return loadConfig(serviceConfigShape(defaultPort));
}

export interface ServiceDefinition<Extra extends z.ZodRawShape> {
  readonly service: string;
  readonly defaultPort: number;
  /** Service-specific variables on top of the common ones. */
  readonly extraConfig: Extra;
  readonly createModule: (config: z.infer<z.ZodObject<Extra>>, platform: PlatformOptions) => Type<unknown>;
}

/**
 * A service's main(): validate configuration (exit 1 naming each bad variable), then start the
 * Nest application. Errors at boot are logged as JSON and end the process with a non-zero code.
 */
export async function runService<Extra extends z.ZodRawShape>(definition: ServiceDefinition<Extra>): Promise<void> {
  let logger: Logger = createLogger(definition.service);
  try {
    // Validate both parts before failing, so one error lists every bad variable.
    const [common, extra] = [
      attempt(() => loadServiceConfig(definition.defaultPort)),
      attempt(() => loadConfig(definition.extraConfig)),
    ];
    if (!common.ok || !extra.ok) {
      throw new ConfigError([...(common.ok ? [] : common.error.problems), ...(extra.ok ? [] : extra.error.problems)]);
    }
    const config = common.value;
    logger = createLogger(definition.service, config.LOG_LEVEL);
    const platform: PlatformOptions = {
      service: definition.service,
      instanceId: config.INSTANCE_ID,
      logger,
      kafkaBrokers: config.KAFKA_BROKERS,
      databaseUrl: config.DATABASE_URL,
      databasePoolSize: config.DATABASE_POOL_SIZE,
    };
    await startHttpService({
      service: definition.service,
      module: definition.createModule(extra.value, platform),
      logger,
      host: config.HOST,
      port: config.PORT,
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      logger.fatal({ event: 'invalid_config', problems: error.problems }, error.message);
    } else {
      logger.fatal({ event: 'boot_failed', err: error }, 'service failed to start');
    }
    logger.flush();
    process.exitCode = 1;
    // Give pino a tick to flush, then leave even if a client keeps a handle open.
    setTimeout(() => process.exit(1), 100).unref();
  }
}

type Attempt<T> = { ok: true; value: T } | { ok: false; error: ConfigError };

function attempt<T>(load: () => T): Attempt<T> {
  try {
    return { ok: true, value: load() };
  } catch (error) {
    if (error instanceof ConfigError) return { ok: false, error };
    throw error;
  }
}
