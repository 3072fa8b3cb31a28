import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AcquireLock, LeaseOutcome } from '@license-ledger/lease-domain';
import { LedgerTimeoutError } from '@license-ledger/lease-ledger';
import { keyId, toBase64, toHex } from '@license-ledger/protocol-crypto';
import { InvalidRequestError, LICENSE_CONTENT_TYPE, licenseErrorBody, type LicenseErrorReason, type LicenseServerCrypto } from '@license-ledger/protocol-exchange';
import type { AccessToken, LicenseRequest } from '@license-ledger/protocol-wire';
import { TokenBucketLimiter } from './rate-limiter';
import { ReplayGuard } from './replay-guard';
import { telemetryEnvelope, type TelemetryDecision, type TelemetryEnvelope } from './telemetry';

/** What the handler needs of the lease ledger (LedgerClient + KeyDirectory in production). */
export interface LedgerPort {
  /** False until the key directory has read the ledger's history and the reply consumer runs. */
  readonly ready: boolean;
  agreementOf(gatewayKey: string): string | undefined;
  send(command: AcquireLock, timeoutMs: number): Promise<LeaseOutcome>;
}

export interface TelemetrySink {
  enqueue(key: string | null, record: TelemetryEnvelope): void;
}

export interface HandlerLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
  debug(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** The configurable limits of the license endpoint (from the ingress's configuration). */
export interface LicenseLimits {
  readonly ledgerTimeoutMs: number;
  readonly retryAfterSeconds: number;
  readonly maxBodyBytes: number;
  readonly requestTimeWindowMs: number;
  readonly keyRate: { readonly perSecond: number; readonly burst: number };
  readonly addressRate: { readonly perSecond: number; readonly burst: number };
}

export interface LicenseHandlerOptions extends LicenseLimits {
  readonly crypto: LicenseServerCrypto;
  readonly ledger: LedgerPort;
  readonly telemetry: TelemetrySink;
  readonly logger: HandlerLogger;
  readonly instanceId: string;
  readonly onAnswer?: (status: number, reason: string) => void;
  /** Seconds from sending the command to the ledger's answer (answered commands only). */
  readonly onLedgerAnswer?: (seconds: number) => void;
}

/** An HTTP answer: status, content type, body and extra headers. */
export interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Reasons of answers other than 200 and 400 (whose reasons are the protocol's). */
export type TransportReason = 'payload_too_large' | 'unsupported_media_type' | 'rate_limited' | 'unavailable';

const JSON_TYPE = 'application/json';
const NS_PER_MS = 1_000_000n;

/** {"error":400,"reason":R,"message":M}, exactly the protocol's 400 body. */
export function badRequest(reason: LicenseErrorReason, message: string): Answer {
  return { status: 400, contentType: JSON_TYPE, body: Buffer.from(JSON.stringify(licenseErrorBody(reason, message)), 'utf8') };
}

/** The same shape for the transport-level refusals: {"error":status,"reason":R,"message":M}. */
export function refusal(status: 413 | 415 | 429 | 503, reason: TransportReason, message: string, retryAfterSeconds?: number): Answer {
  return {
    status,
    contentType: JSON_TYPE,
    body: Buffer.from(JSON.stringify({ error: status, reason, message }), 'utf8'),
    ...(retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(retryAfterSeconds) } } : {}),
  };
}

/** True for application/octet-stream, with any parameters and in any case. */
export function isLicenseContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const semicolon = header.indexOf(';');
  return (semicolon < 0 ? header : header.slice(0, semicolon)).trim().toLowerCase() === LICENSE_CONTENT_TYPE;
}

/**
 * The request id of a gateway request: the same key and nonce (a retry of the same request, to this
 * or another ingress instance) always give the same id, so the ledger decides it once.
 */
export function requestIdOf(gatewayKey: Uint8Array, nonce: Uint8Array): string {
  return createHash('sha256').update('license-ledger/request/v1\0').update(gatewayKey).update(nonce).digest('hex').slice(0, 32);
}

/** Rules of the ingress beyond the wire format's: what a request must carry to be decided. */
export function missingFields(request: LicenseRequest): string | null {
  const missing: string[] = [];
  if (request.requestTimeUtc <= 0n) missing.push('request_time_utc');
  if (request.hostname === '') missing.push('hostname');
  if (request.sessionId === '') missing.push('session_id');
  if (missing.length > 0) return `the request lacks required field${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  if (request.processId > BigInt(Number.MAX_SAFE_INTEGER)) return `process_id ${request.processId} is out of range`;
  return null;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * POST /v1/license without HTTP: rate limits, open and check the request, resolve the key's
 * agreement, ask the ledger, and answer with a sealed token or a refusal. Never throws.
 */
export class LicenseHandler {
  private readonly addressLimiter: TokenBucketLimiter;
  private readonly keyLimiter: TokenBucketLimiter;
  private readonly replays: ReplayGuard;

  constructor(private readonly options: LicenseHandlerOptions) {
    this.addressLimiter = new TokenBucketLimiter(options.addressRate);
    this.keyLimiter = new TokenBucketLimiter(options.keyRate);
    this.replays = new ReplayGuard(options.requestTimeWindowMs);
  }

  /** Refusal before the body is read: wrong content type or a declared length over the limit. */
  precheck(contentType: string | undefined, contentLength: number | undefined, address: string): Answer | null {
    if (!isLicenseContentType(contentType)) {
      return this.reject(refusal(415, 'unsupported_media_type', `Content-Type must be ${LICENSE_CONTENT_TYPE}`), address, { content_type: contentType ?? null });
    }
    if (contentLength !== undefined && contentLength > this.options.maxBodyBytes) return this.tooLarge(address);
    return null;
  }

  tooLarge(address: string): Answer {
    return this.reject(refusal(413, 'payload_too_large', `the body exceeds ${this.options.maxBodyBytes} bytes`), address);
  }

  /** The per-address rate limit alone: null when `address` may send a request now, else its 429. */
  admitAddress(address: string, nowMs: number = Date.now()): Answer | null {
    const wait = this.addressLimiter.take(address, nowMs);
    return wait > 0 ? this.rateLimited(`too many requests from ${address}`, wait, address) : null;
  }

  /** The whole endpoint: the address's rate limit, then everything else (handleAdmitted). */
  async handle(body: Uint8Array, address: string, nowMs: number = Date.now()): Promise<Answer> {
    return this.admitAddress(address, nowMs) ?? (await this.handleAdmitted(body, address, nowMs));
  }

  /** A request whose address was admitted (admitAddress, e.g. by the HTTP layer's guard). Never throws. */
  async handleAdmitted(body: Uint8Array, address: string, nowMs: number = Date.now()): Promise<Answer> {
    try {
      return await this.decide(body, address, nowMs);
    } catch (error) {
      return this.unexpected(error, address);
    }
  }

  /**
   * The answer to a failure nothing foresaw (logged): 503 with Retry-After, never a 500. The gateway
   * may retry, and the ledger stays as it was.
   */
  unexpected(error: unknown, address: string): Answer {
    this.options.logger.error({ event: 'license_failed', err: error, address }, 'unexpected error while handling a license request');
    return this.reject(refusal(503, 'unavailable', 'the license service cannot answer now; retry later', this.options.retryAfterSeconds), address);
  }

  private async decide(body: Uint8Array, address: string, nowMs: number): Promise<Answer> {
    const { options } = this;
    if (body.byteLength > options.maxBodyBytes) return this.tooLarge(address);

    let gatewayPublicKey: Uint8Array;
    let request: LicenseRequest;
    let requestBytes: Uint8Array;
    try {
      ({ gatewayPublicKey, request, requestBytes } = options.crypto.openRequest(body));
    } catch (error) {
      if (error instanceof InvalidRequestError) return this.reject(badRequest('invalid_request', error.message), address);
      throw error;
    }
    const key = toBase64(gatewayPublicKey);
    const fingerprint = keyId(gatewayPublicKey);
    const context = { address, key_fingerprint: fingerprint };
    const keyWait = this.keyLimiter.take(key, nowMs);
    if (keyWait > 0) return this.rateLimited(`too many requests from gateway key ${fingerprint}`, keyWait, address, context);
    const missing = missingFields(request);
    if (missing) return this.reject(badRequest('invalid_request', missing), address, context);
    const fresh = this.replays.checkTime(request.requestTimeUtc, nowMs);
    if (!fresh.ok) return this.reject(badRequest('invalid_request', fresh.message), address, context);
    const requestId = requestIdOf(gatewayPublicKey, request.nonce);
    if (!this.replays.claim(requestId, request.requestTimeUtc, nowMs)) {
      return this.reject(badRequest('invalid_request', `nonce ${toHex(request.nonce)} was already used by this gateway key; every request needs a fresh nonce`), address, context);
    }

    if (!options.ledger.ready) {
      this.replays.release(requestId);
      return this.unavailable('the license service is starting (reading the ledger); retry later', address, context);
    }
    const agreementId = options.ledger.agreementOf(key);
    const receivedNs = BigInt(nowMs) * NS_PER_MS;
    if (agreementId === undefined) {
      // No telemetry: anyone can make a key pair, and the analysts' tables are for licensed gateways.
      return this.reject(badRequest('no_license_agreement', `gateway key ${fingerprint} is not bound to a license agreement`), address, context);
    }
    const hintMs = (request.tokenExpiryTimeUtc - request.requestTimeUtc) / NS_PER_MS;
    const command: AcquireLock = {
      type: 'AcquireLock',
      data: {
        agreementId,
        configHash: toHex(request.configHash),
        holder: { key, hostname: request.hostname, processId: Number(request.processId), sessionId: request.sessionId },
        ...(hintMs > 0n ? { requestedPeriodMs: Number(hintMs > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : hintMs) } : {}),
      },
      // The request's own time: the ledger enforces its request-time window whatever ours is.
      metadata: { requestId, requestedAt: Number(request.requestTimeUtc / NS_PER_MS) },
    };
    let outcome: LeaseOutcome;
    try {
      const sentAt = performance.now();
      outcome = await options.ledger.send(command, options.ledgerTimeoutMs);
      options.onLedgerAnswer?.((performance.now() - sentAt) / 1000);
    } catch (error) {
      // Not decided as far as we know: let the gateway retry the same request (same request id).
      this.replays.release(requestId);
      const why = error instanceof LedgerTimeoutError ? `no decision within ${options.ledgerTimeoutMs} ms` : errorText(error);
      return this.unavailable(`the lease ledger cannot answer now (${why}); retry later`, address, { ...context, agreement_id: agreementId, request_id: requestId });
    }
    const ledgerContext = { ...context, agreement_id: agreementId, request_id: requestId };
    switch (outcome.kind) {
      case 'granted': {
        const answerNs = BigInt(Date.now()) * NS_PER_MS;
        const expiryNs = BigInt(outcome.expiresAt) * NS_PER_MS;
        const issuedNs = answerNs < expiryNs ? answerNs : receivedNs;
        const token: AccessToken = {
          tokenId: requestId,
          agreementId,
          gatewayPublicKey,
          configHash: request.configHash,
          packageName: request.packageName,
          issuedTimeUtc: issuedNs,
          expiryTimeUtc: expiryNs,
          nonce: request.nonce,
          renewTimeUtc: issuedNs + (expiryNs - issuedNs) / 2n,
        };
        const sealed = options.crypto.sealToken(token);
        this.publishTelemetry(request, requestBytes, agreementId, fingerprint, receivedNs, 'granted');
        options.onAnswer?.(200, outcome.renewed ? 'renewed' : 'granted');
        options.logger.debug({ event: 'license_granted', ...ledgerContext, expires_at: outcome.expiresAt, renewed: outcome.renewed }, 'license granted');
        return { status: 200, contentType: LICENSE_CONTENT_TYPE, body: Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength) };
      }
      case 'denied': {
        const reason: LicenseErrorReason = outcome.reason === 'invalid_command' ? 'invalid_request' : outcome.reason;
        // Only a gateway the ledger knows, with a request it accepted as valid, reports telemetry: the
        // key may have been unbound since the directory said otherwise.
        if (reason === 'no_available_licenses') this.publishTelemetry(request, requestBytes, agreementId, fingerprint, receivedNs, reason);
        return this.reject(badRequest(reason, outcome.message), address, ledgerContext);
      }
      default:
        options.logger.error({ event: 'unexpected_outcome', ...ledgerContext, outcome: outcome.kind }, 'the ledger answered AcquireLock with neither a grant nor a denial');
        return this.unavailable('the lease ledger gave an unexpected answer; retry later', address, ledgerContext);
    }
  }

  /** Telemetry of a request from a key bound to `agreementId` that passed every check and was decided. */
  private publishTelemetry(request: LicenseRequest, requestBytes: Uint8Array, agreementId: string, keyFingerprint: string, receivedTimeNs: bigint, decision: TelemetryDecision): void {
    try {
      const record = telemetryEnvelope(request, { agreementId, keyFingerprint, receivedTimeNs, decision, ingressInstance: this.options.instanceId }, requestBytes);
      this.options.telemetry.enqueue(request.sessionId || null, record);
    } catch (error) {
      this.options.logger.warn({ event: 'telemetry_failed', err: error }, 'cannot queue telemetry');
    }
  }

  private rateLimited(message: string, waitMs: number, address: string, context?: object): Answer {
    return this.reject(refusal(429, 'rate_limited', message, Math.max(1, Math.ceil(waitMs / 1000))), address, context);
  }

  private unavailable(message: string, address: string, context?: object): Answer {
    return this.reject(refusal(503, 'unavailable', message, this.options.retryAfterSeconds), address, context);
  }

  /** Logs every refusal with its reason (never keys' secrets, bodies or tokens) and returns it. */
  private reject(answer: Answer, address: string, context: object = {}): Answer {
    const { reason, message } = JSON.parse(answer.body.toString('utf8')) as { reason: string; message: string };
    this.options.onAnswer?.(answer.status, reason);
    this.options.logger.warn({ event: 'license_rejected', status: answer.status, reason, message, address, ...context }, `license request refused: ${reason}`);
    return answer;
  }
}
