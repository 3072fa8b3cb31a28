import { createPublicKey, verify } from 'node:crypto';
import { Inject, Injectable, NestMiddleware } from '@nestjs/common';
import type { Logger } from '@license-ledger/platform-logging';
import { LOGGER, PrismaService } from '@license-ledger/platform-nest';
import { signaturePayload } from '@license-ledger/metrics-usage';
import type { NextFunction, Request, Response } from 'express';

export const API_AUTH_OPTIONS = Symbol('API_AUTH_OPTIONS');

export interface ApiAuthOptions {
  /** Failures from one key id or one address within the window before further requests get 429. */
  readonly maxFailures: number;
  readonly windowMs: number;
}

export const DEFAULT_API_AUTH_OPTIONS: ApiAuthOptions = { maxFailures: 10, windowMs: 60_000 };

export const AUTH_ERRORS = {
  missingKey: '{"error":400,"message":"Api key header not provided"}',
  missingSignature: '{"error":400,"message":"Signature header not provided"}',
  unauthorized: '{"error":401,"message":"Unauthorized"}',
  throttled: '{"error":429,"message":"Too many failed attempts"}',
} as const;

/** Failures per key id / address in a fixed window; memory bounded by dropping expired windows. */
export class FailureThrottle {
  private readonly windows = new Map<string, { start: number; failures: number }>();
  constructor(private readonly options: ApiAuthOptions, private readonly now: () => number = Date.now) {}

  blocked(id: string): boolean {
    const window = this.windows.get(id);
    if (!window) return false;
    if (this.now() - window.start >= this.options.windowMs) {
      this.windows.delete(id);
      return false;
    }
    return window.failures >= this.options.maxFailures;
  }

  fail(id: string): void {
    const now = this.now();
    const window = this.windows.get(id);
    if (!window || now - window.start >= this.options.windowMs) this.windows.set(id, { start: now, failures: 1 });
    else window.failures += 1;
    if (this.windows.size > 100_000) {
      for (const [key, w] of this.windows) if (now - w.start >= this.options.windowMs) this.windows.delete(key);
    }
  }
}

/**
 * X-API-Key + X-API-Signature: the base64 RSA PKCS#1 v1.5 SHA-256 signature of
 * `METHOD:path-with-query-as-sent[:sorted body params]` (signaturePayload), verified with the key's
 * stored PEM public key. Errors are fixed JSON bodies, byte for byte.
 */
@Injectable()
export class ApiAuthMiddleware implements NestMiddleware {
  private readonly throttle: FailureThrottle;

  constructor(
    private readonly prisma: PrismaService,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(API_AUTH_OPTIONS) options: ApiAuthOptions,
  ) {
    this.throttle = new FailureThrottle(options);
  }

  async use(req: Request, res: Response, next: NextFunction): Promise<void> {
    const address = req.socket.remoteAddress ?? 'unknown';
    const keyId = req.header('x-api-key');
    const signature = req.header('x-api-signature');
    const path = req.originalUrl;
    const fail = (status: number, body: string, reason: string): void => {
      this.throttle.fail(`addr:${address}`);
      if (keyId) this.throttle.fail(`key:${keyId}`);
      this.logger.warn({ event: 'api_auth_failed', reason, keyId: keyId ?? null, address, method: req.method, path }, 'api authentication failed');
      res.status(status).setHeader('content-type', 'application/json').end(body);
    };
    if (this.throttle.blocked(`addr:${address}`) || (keyId !== undefined && this.throttle.blocked(`key:${keyId}`))) {
      this.logger.warn({ event: 'api_auth_throttled', keyId: keyId ?? null, address, path }, 'api request throttled after repeated failures');
      res.status(429).setHeader('content-type', 'application/json').setHeader('retry-after', '60').end(AUTH_ERRORS.throttled);
      return;
    }
    if (keyId === undefined || keyId === '') return fail(400, AUTH_ERRORS.missingKey, 'missing_key');
    if (signature === undefined || signature === '') return fail(400, AUTH_ERRORS.missingSignature, 'missing_signature');
    let rows: Array<{ public_key_pem: string }>;
    try {
      rows = await this.prisma.client.$queryRawUnsafe(`SELECT public_key_pem FROM metrics_api_key WHERE key_id = $1 AND revoked_at IS NULL`, keyId);
    } catch (error) {
      next(error);
      return;
    }
    const pem = rows[0]?.public_key_pem;
    if (pem === undefined) return fail(401, AUTH_ERRORS.unauthorized, 'unknown_key');
    const body = req.body !== null && typeof req.body === 'object' && Object.keys(req.body as object).length > 0 ? (req.body as Record<string, unknown>) : undefined;
    const payload = signaturePayload(req.method, path, body);
    let ok = false;
    try {
      ok = verify('sha256', Buffer.from(payload, 'utf8'), createPublicKey(pem), Buffer.from(signature, 'base64'));
    } catch {
      ok = false;
    }
    if (!ok) return fail(401, AUTH_ERRORS.unauthorized, 'bad_signature');
    next();
  }
}
