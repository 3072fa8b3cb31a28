import { hostname } from 'node:os';
import { z } from 'zod';
import { env } from './load-config';

/** Variables every service reads. Each service adds its own to this shape. */
export function serviceConfigShape(defaultPort: number) {
  return {
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: env.port(defaultPort),
    KAFKA_BROKERS: env.brokers(),
    DATABASE_URL: env.postgresUrl(),
    DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
    LOG_LEVEL: env.logLevel(),
    INSTANCE_ID: env.instanceId().default(`${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${process.pid}`),
  };
}
