import { readFileSync } from 'node:fs';
import { Topics } from '@license-ledger/platform-kafka';
import type { HttpTimeouts } from '@license-ledger/platform-nest';
import { readBoxSecretKeyFile, readSigningKeyFile, type BoxSecretKey, type SigningKey } from '@license-ledger/protocol-crypto';
import { z } from 'zod';
import type { LicenseLimits } from './license-handler';

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A path whose file is read and parsed at boot, so a bad key file stops the service with its reason. */
function fileOf<T>(read: (path: string) => T) {
  return z.string().transform((path, context): T => {
    try {
      return read(path);
    } catch (error) {
      context.addIssue({ code: 'custom', message: errorText(error) });
      return z.NEVER;
    }
  });
}

const int = (min: number, max: number, fallback: number) => z.coerce.number().int().min(min).max(max).default(fallback);
const rate = (fallback: number) => z.coerce.number().positive().max(1_000_000).default(fallback);

/** The ingress's variables on top of the common ones (README, Configuration). */
export const ingressConfigShape = {
  SERVER_BOX_KEY_FILE: fileOf<BoxSecretKey>(readBoxSecretKeyFile),
  SERVER_SIGN_KEY_FILE: fileOf<SigningKey>(readSigningKeyFile),
  TLS_CERT_FILE: fileOf((path) => readFileSync(path)).optional(),
  TLS_KEY_FILE: fileOf((path) => readFileSync(path)).optional(),
  LEDGER_TIMEOUT_MS: int(50, 60_000, 2_000),
  RETRY_AFTER_SECONDS: int(1, 3_600, 1),
  MAX_BODY_BYTES: int(256, 1_048_576, 8_192),
  REQUEST_TIME_WINDOW_SECONDS: int(1, 86_400, 300),
  RATE_LIMIT_KEY_PER_SECOND: rate(5),
  RATE_LIMIT_KEY_BURST: int(1, 1_000_000, 20),
  RATE_LIMIT_ADDRESS_PER_SECOND: rate(10_000),
  RATE_LIMIT_ADDRESS_BURST: int(1, 10_000_000, 20_000),
  SHARED_KEY_CACHE_SIZE: int(1, 10_000_000, 100_000),
  LEASE_COMMANDS_TOPIC: z.string().min(1).default(Topics.leaseCommands.name),
  LEASE_EVENTS_TOPIC: z.string().min(1).default(Topics.leaseEvents.name),
  LEASE_REPLIES_TOPIC: z.string().min(1).default(Topics.leaseReplies.name),
  LEDGER_GROUP_PREFIX: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'expected 1-100 of [A-Za-z0-9._-]').default('license-ledger.ingress'),
  TELEMETRY_TOPIC: z.string().min(1).default(Topics.telemetry.name),
  // Connections that idle or dawdle are closed (bootstrap.ts, HttpTimeouts); the license endpoint included.
  HTTP_HEADERS_TIMEOUT_MS: int(100, 600_000, 10_000),
  HTTP_REQUEST_TIMEOUT_MS: int(100, 600_000, 30_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: int(100, 600_000, 65_000),
  HTTP_IDLE_TIMEOUT_MS: int(100, 3_600_000, 65_000),
  // Which of Nest's HTTP platforms serves the ingress (http-adapter.ts); all run the same pipeline.
  HTTP_ADAPTER: z.enum(['node', 'fastify', 'express']).default('node'),
};

export type IngressConfig = z.infer<z.ZodObject<typeof ingressConfigShape>>;

/** What the ingress module needs, derived from the validated configuration. */
export interface IngressOptions extends LicenseLimits {
  readonly boxKey: BoxSecretKey;
  readonly signingKey: SigningKey;
  readonly sharedKeyCacheSize: number;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
  readonly topics: { readonly commands: string; readonly events: string; readonly replies: string; readonly telemetry: string };
  readonly groupPrefix: string;
  readonly http: HttpTimeouts;
  readonly httpAdapter: 'node' | 'fastify' | 'express';
}

/** Cross-variable rules; returns the problems in the same "NAME ..." form as loadConfig. */
export function ingressOptions(config: IngressConfig): { options: IngressOptions } | { problems: string[] } {
  const problems: string[] = [];
  if ((config.TLS_CERT_FILE === undefined) !== (config.TLS_KEY_FILE === undefined)) {
    problems.push('TLS_CERT_FILE and TLS_KEY_FILE must be set together (HTTPS) or both left unset (plain HTTP)');
  }
  if (config.HTTP_HEADERS_TIMEOUT_MS > config.HTTP_REQUEST_TIMEOUT_MS) {
    problems.push('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS (headers are part of the request)');
  }
  // The socket is silent while the ledger decides: a shorter idle timeout would cut answers off.
  if (config.HTTP_IDLE_TIMEOUT_MS <= config.LEDGER_TIMEOUT_MS) {
    problems.push('HTTP_IDLE_TIMEOUT_MS must exceed LEDGER_TIMEOUT_MS (a connection waiting for the ledger is idle)');
  }
  if (problems.length > 0) return { problems };
  return {
    options: {
      boxKey: config.SERVER_BOX_KEY_FILE,
      signingKey: config.SERVER_SIGN_KEY_FILE,
      sharedKeyCacheSize: config.SHARED_KEY_CACHE_SIZE,
      tls: config.TLS_CERT_FILE && config.TLS_KEY_FILE ? { cert: config.TLS_CERT_FILE, key: config.TLS_KEY_FILE } : undefined,
      ledgerTimeoutMs: config.LEDGER_TIMEOUT_MS,
      retryAfterSeconds: config.RETRY_AFTER_SECONDS,
      maxBodyBytes: config.MAX_BODY_BYTES,
      requestTimeWindowMs: config.REQUEST_TIME_WINDOW_SECONDS * 1000,
      keyRate: { perSecond: config.RATE_LIMIT_KEY_PER_SECOND, burst: config.RATE_LIMIT_KEY_BURST },
      addressRate: { perSecond: config.RATE_LIMIT_ADDRESS_PER_SECOND, burst: config.RATE_LIMIT_ADDRESS_BURST },
      topics: { commands: config.LEASE_COMMANDS_TOPIC, events: config.LEASE_EVENTS_TOPIC, replies: config.LEASE_REPLIES_TOPIC, telemetry: config.TELEMETRY_TOPIC },
      groupPrefix: config.LEDGER_GROUP_PREFIX,
      http: {
        headersMs: config.HTTP_HEADERS_TIMEOUT_MS,
        requestMs: config.HTTP_REQUEST_TIMEOUT_MS,
        keepAliveMs: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
        idleMs: config.HTTP_IDLE_TIMEOUT_MS,
      },
      httpAdapter: config.HTTP_ADAPTER,
    },
  };
}
