import { createHash } from 'node:crypto';
import type { LeaseOutcome, ReleaseLock } from '@license-ledger/lease-domain';
import { LedgerTimeoutError } from '@license-ledger/lease-ledger';
import { keyId, toBase64, toHex } from '@license-ledger/protocol-crypto';
import { InvalidRequestError, LICENSE_CONTENT_TYPE, openReleaseRequest, sealReleaseAnswer, type LicenseErrorReason, type LicenseServerCrypto } from '@license-ledger/protocol-exchange';
import type { ReleaseRequest } from '@license-ledger/protocol-wire';
import { badRequest, refusal, type Answer, type HandlerLogger, type LicenseLimits } from './license-handler';
import { TokenBucketLimiter } from './rate-limiter';
import { ReplayGuard } from './replay-guard';

/** What the release handler needs of the lease ledger (LedgerService in production). */
export interface ReleaseLedgerPort {
  readonly ready: boolean;
  agreementOf(gatewayKey: string): string | undefined;
  send(command: ReleaseLock, timeoutMs: number): Promise<LeaseOutcome>;
}

export interface ReleaseHandlerOptions extends Pick<LicenseLimits, 'ledgerTimeoutMs' | 'retryAfterSeconds' | 'maxBodyBytes' | 'requestTimeWindowMs' | 'keyRate'> {
  readonly crypto: LicenseServerCrypto;
  readonly ledger: ReleaseLedgerPort;
  readonly logger: HandlerLogger;
  readonly onAnswer?: (status: number, reason: string) => void;
}

const NS_PER_MS = 1_000_000n;

/**
 * The ledger request id of a release: the same key and nonce (a retry of the same release) always
 * give the same id, so the ledger decides it once; the context keeps it apart from license requests.
 */
export function releaseRequestIdOf(gatewayKey: Uint8Array, nonce: Uint8Array): string {
  return createHash('sha256').update('license-ledger/release/v1\0').update(gatewayKey).update(nonce).digest('hex').slice(0, 32);
}

/** The ingress's rules beyond the wire format: what names the holder must be present. */
export function missingReleaseFields(request: ReleaseRequest): string | null {
  const missing: string[] = [];
  if (request.requestTimeUtc <= 0n) missing.push('request_time_utc');
  if (request.hostname === '') missing.push('hostname');
  if (request.sessionId === '') missing.push('session_id');
  if (missing.length > 0) return `the release lacks required field${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
  if (request.processId > BigInt(Number.MAX_SAFE_INTEGER)) return `process_id ${request.processId} is out of range`;
  return null;
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * POST /v1/license/release without HTTP: open and check the release, resolve the key's agreement,
 * send ReleaseLock to the ledger, and answer 200 with a sealed ReleaseAnswer or the ledger's 400
 * (`lock_not_held` when this process holds no such lock: nothing changes). The address's rate limit
 * and the body's size and type are the pipeline's (shared with POST /v1/license). Never throws.
 */
export class ReleaseHandler {
  private readonly keyLimiter: TokenBucketLimiter;
  private readonly replays: ReplayGuard;

  constructor(private readonly options: ReleaseHandlerOptions) {
    this.keyLimiter = new TokenBucketLimiter(options.keyRate);
    this.replays = new ReplayGuard(options.requestTimeWindowMs);
  }

  async handleAdmitted(body: Uint8Array, address: string, nowMs: number = Date.now()): Promise<Answer> {
    try {
      return await this.decide(body, address, nowMs);
    } catch (error) {
      this.options.logger.error({ event: 'release_failed', err: error, address }, 'unexpected error while handling a release');
      return this.unavailable('the license service cannot answer now; retry later', address);
    }
  }

  private async decide(body: Uint8Array, address: string, nowMs: number): Promise<Answer> {
    const { options } = this;
    if (body.byteLength > options.maxBodyBytes) return this.reject(refusal(413, 'payload_too_large', `the body exceeds ${options.maxBodyBytes} bytes`), address);
    let gatewayPublicKey: Uint8Array;
    let request: ReleaseRequest;
    try {
      ({ gatewayPublicKey, request } = openReleaseRequest(options.crypto, body));
    } catch (error) {
      if (error instanceof InvalidRequestError) return this.reject(badRequest('invalid_request', error.message), address);
      throw error;
    }
    const key = toBase64(gatewayPublicKey);
    const context = { address, key_fingerprint: keyId(gatewayPublicKey), token_id: request.tokenId };
    const keyWait = this.keyLimiter.take(key, nowMs);
    if (keyWait > 0) {
      return this.reject(refusal(429, 'rate_limited', `too many releases from gateway key ${context.key_fingerprint}`, Math.max(1, Math.ceil(keyWait / 1000))), address, context);
    }
    const missing = missingReleaseFields(request);
    if (missing) return this.reject(badRequest('invalid_request', missing), address, context);
    const fresh = this.replays.checkTime(request.requestTimeUtc, nowMs);
    if (!fresh.ok) return this.reject(badRequest('invalid_request', fresh.message), address, context);
    const requestId = releaseRequestIdOf(gatewayPublicKey, request.nonce);
    if (!this.replays.claim(requestId, request.requestTimeUtc, nowMs)) {
      return this.reject(badRequest('invalid_request', `nonce ${toHex(request.nonce)} was already used by this gateway key; every release needs a fresh nonce`), address, context);
    }
    if (!options.ledger.ready) {
      this.replays.release(requestId);
      return this.unavailable('the license service is starting (reading the ledger); retry later', address, context);
    }
    const agreementId = options.ledger.agreementOf(key);
    if (agreementId === undefined) {
      // An unbound (or since revoked) key: its locks run out at their expiry; there is nothing to ask.
      return this.reject(badRequest('no_license_agreement', `gateway key ${context.key_fingerprint} is not bound to a license agreement`), address, context);
    }
    const configHash = toHex(request.configHash);
    const command: ReleaseLock = {
      type: 'ReleaseLock',
      data: { agreementId, configHash, holder: { key, hostname: request.hostname, processId: Number(request.processId), sessionId: request.sessionId } },
      metadata: { requestId, requestedAt: Number(request.requestTimeUtc / NS_PER_MS) },
    };
    const ledgerContext = { ...context, agreement_id: agreementId, request_id: requestId, config_hash: configHash };
    let outcome: LeaseOutcome;
    try {
      outcome = await options.ledger.send(command, options.ledgerTimeoutMs);
    } catch (error) {
      // Not decided as far as we know: the gateway may retry the same release (same request id).
      this.replays.release(requestId);
      const why = error instanceof LedgerTimeoutError ? `no decision within ${options.ledgerTimeoutMs} ms` : errorText(error);
      return this.unavailable(`the lease ledger cannot answer now (${why}); retry later`, address, ledgerContext);
    }
    switch (outcome.kind) {
      case 'released': {
        const keptUntilUtc = outcome.keptUntil === undefined ? 0n : BigInt(outcome.keptUntil) * NS_PER_MS;
        const sealed = sealReleaseAnswer(options.crypto, gatewayPublicKey, {
          nonce: request.nonce,
          configHash: request.configHash,
          releasedTimeUtc: BigInt(Date.now()) * NS_PER_MS,
          freed: outcome.freed,
          keptUntilUtc,
        });
        const state = outcome.freed ? 'freed' : outcome.keptUntil === undefined ? 'still_held' : 'lingering';
        options.onAnswer?.(200, state);
        options.logger.info({ event: 'license_released', ...ledgerContext, state, ...(outcome.keptUntil === undefined ? {} : { kept_until: outcome.keptUntil }) }, 'lock released');
        return { status: 200, contentType: LICENSE_CONTENT_TYPE, body: Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength) };
      }
      case 'denied': {
        const reason: LicenseErrorReason = outcome.reason === 'invalid_command' ? 'invalid_request' : outcome.reason;
        return this.reject(badRequest(reason, outcome.message), address, ledgerContext);
      }
      case 'granted':
      case 'accepted':
        options.logger.error({ event: 'unexpected_outcome', ...ledgerContext, outcome: outcome.kind }, 'the ledger answered ReleaseLock with neither a release nor a denial');
        return this.unavailable('the lease ledger gave an unexpected answer; retry later', address, ledgerContext);
      default: {
        const unknown: never = outcome;
        throw new Error(`unknown outcome ${JSON.stringify(unknown)}`);
      }
    }
  }

  private unavailable(message: string, address: string, context?: object): Answer {
    return this.reject(refusal(503, 'unavailable', message, this.options.retryAfterSeconds), address, context);
  }

  /** Logs every refusal with its reason (never bodies or keys' secrets) and returns it. */
  private reject(answer: Answer, address: string, context: object = {}): Answer {
    const { reason, message } = JSON.parse(answer.body.toString('utf8')) as { reason: string; message: string };
    this.options.onAnswer?.(answer.status, reason);
    this.options.logger.warn({ event: 'release_rejected', status: answer.status, reason, message, address, ...context }, `release refused: ${reason}`);
    return answer;
  }
}
