import { NestApplicationOptions, Type } from '@nestjs/common';
import type { AbstractHttpAdapter } from '@nestjs/core';
import { ConfigError, loadConfig, serviceConfigShape } from '@license-ledger/platform-config';
import { checkTopicsAtStart, loadTopicSettings, TopicCheckError } from '@license-ledger/platform-kafka';
import { createLogger, Logger } from '@license-ledger/platform-logging';
import { z } from 'zod';
import { startHttpService } from './bootstrap';
import { PlatformOptions } from './platform.module';

export type ServiceConfig = ReturnType<typeof loadServiceConfig>;

function loadServiceConfig(defaultPort: number) {
  return loadConfig(serviceConfigShape(defaultPort));
}

/** What `prepare` gives back: usable options, or the variables whose values do not work. */
export type Prepared<Options> = { readonly options: Options } | { readonly problems: readonly string[] };

export interface ServiceDefinition<Extra extends z.ZodRawShape, Options = z.infer<z.ZodObject<Extra>>> {
  readonly service: string;
  readonly defaultPort: number;
  /** Service-specific variables on top of the common ones. */
  readonly extraConfig: Extra;
  /**
   * Turns the parsed variables into the service's options, reporting values that parse but do not
   * work (an unreadable key file, say) as configuration problems too. Without it, the options are
   * the parsed variables.
   */
  readonly prepare?: (config: z.infer<z.ZodObject<Extra>>) => Prepared<Options>;
  readonly createModule: (options: Options, platform: PlatformOptions) => Type<unknown>;
  /** Nest application options that depend on the service's options (HTTPS, body parsing). */
  readonly nestOptions?: (options: Options) => NestApplicationOptions;
  /** The HTTP platform for the service's options (e.g. a FastifyAdapter); Express without it. */
  readonly httpAdapter?: (options: Options) => AbstractHttpAdapter;
  /** Extra fields for the "listening" log line (key ids, say). */
  readonly describe?: (options: Options) => Record<string, unknown>;
}

/**
 * A service's main(): validate configuration (exit 1 naming each bad variable), then start the
 * Nest application. Errors at boot are logged as JSON and end the process with a non-zero code.
 */
export async function runService<Extra extends z.ZodRawShape, Options = z.infer<z.ZodObject<Extra>>>(
  definition: ServiceDefinition<Extra, Options>,
): Promise<void> {
  let logger: Logger = createLogger(definition.service);
  try {
    // Validate every part before failing, so one error lists every bad variable.
    const common = attempt(() => loadServiceConfig(definition.defaultPort));
    const extra = attempt(() => loadConfig(definition.extraConfig));
    const topicSettings = attempt(() => loadTopicSettings());
    // Without prepare, Options is (by its default) the parsed variables themselves.
    const prepared: Prepared<Options> | undefined = extra.ok
      ? (definition.prepare?.(extra.value) ?? { options: extra.value as unknown as Options })
      : undefined;
    if (!common.ok || !topicSettings.ok || !prepared || 'problems' in prepared) {
      throw new ConfigError([
        ...(common.ok ? [] : common.error.problems),
        ...(topicSettings.ok ? [] : topicSettings.error.problems),
        ...(extra.ok ? [] : extra.error.problems),
        ...(prepared && 'problems' in prepared ? prepared.problems : []),
      ]);
    }
    const config = common.value;
    const options = prepared.options;
    logger = createLogger(definition.service, config.LOG_LEVEL);
    const platform: PlatformOptions = {
      service: definition.service,
      instanceId: config.INSTANCE_ID,
      logger,
      kafkaBrokers: config.KAFKA_BROKERS,
      databaseUrl: config.DATABASE_URL,
      databasePoolSize: config.DATABASE_POOL_SIZE,
    };
    // Before serving: refuse to run on topics that could lose ledger data (libs/platform/kafka/src/topic-check.ts).
    const topics = await checkTopicsAtStart({
      brokers: config.KAFKA_BROKERS,
      clientId: `${definition.service}-${config.INSTANCE_ID}-topic-check`,
      onWarning: (message, problem) => logger.warn({ event: 'topic_check_warning', topic: problem?.topic, setting: problem?.setting }, message),
    });
    logger.info({ event: 'topic_check_passed', brokers: topics.brokers, ...topics.layout }, 'Kafka topics match their spec');
    await startHttpService({
      service: definition.service,
      module: definition.createModule(options, platform),
      logger,
      host: config.HOST,
      port: config.PORT,
      nestOptions: definition.nestOptions?.(options) ?? {},
      ...(definition.httpAdapter ? { httpAdapter: definition.httpAdapter(options) } : {}),
      describe: definition.describe?.(options) ?? {},
    });
  } catch (error) {
    if (error instanceof ConfigError) {
      logger.fatal({ event: 'invalid_config', problems: error.problems }, error.message);
    } else if (error instanceof TopicCheckError) {
      logger.fatal({ event: 'topic_check_failed', problems: error.problems }, error.message);
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
