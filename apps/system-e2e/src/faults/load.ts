/**
 * License requests at a steady rate, as real gateways send them: each one sealed for the server,
 * with a fresh nonce, the current time and a configuration hash of its own, so every answer can be
 * matched with what the ledger recorded for that hash.
 */
import { randomBytes } from 'node:crypto';
import { BoxSecretKey, systemRandom, toHex } from '@license-ledger/protocol-crypto';
import { sealLicenseRequest } from '@license-ledger/protocol-exchange';
import { exampleLicenseRequest } from '@license-ledger/protocol-wire';

export interface SentRequest {
  readonly configHash: string;
  readonly sessionId: string;
  readonly sentAtMs: number;
  /** HTTP status, or 'timeout' (no answer in time) or 'error' (no HTTP answer at all). */
  readonly status: number | 'timeout' | 'error';
  readonly latencyMs: number;
  readonly retryAfter: string | null;
}

export interface LoadOptions {
  readonly urls: readonly string[];
  readonly gateways: readonly BoxSecretKey[];
  readonly serverBoxPublicKey: Uint8Array;
  readonly perSecond: number;
  /** Until when to send: resolves when the load should stop. */
  readonly until: Promise<void>;
  /** A request unanswered after this is recorded as 'timeout'. */
  readonly giveUpAfterMs: number;
}

const NS_PER_MS = 1_000_000n;

export function sealedRequest(gateway: BoxSecretKey, serverBoxPublicKey: Uint8Array, overrides: Parameters<typeof exampleLicenseRequest>[0] = {}): { body: Uint8Array; configHash: string; sessionId: string } {
  const now = BigInt(Date.now()) * NS_PER_MS;
  const configHash = randomBytes(32);
  const sessionId = `fault-${randomBytes(8).toString('hex')}`;
  const request = exampleLicenseRequest({
    requestTimeUtc: now,
    tokenExpiryTimeUtc: now + 3_600_000n * NS_PER_MS,
    nonce: systemRandom(16),
    configHash,
    sessionId,
    ...overrides,
  });
  return { body: sealLicenseRequest({ request, gatewayKey: gateway, serverBoxPublicKey, random: systemRandom }), configHash: toHex(configHash), sessionId: request.sessionId };
}

export async function post(url: string, body: Uint8Array, giveUpAfterMs: number): Promise<Pick<SentRequest, 'status' | 'latencyMs' | 'retryAfter'> & { body: Buffer }> {
  const started = performance.now();
  try {
    const response = await fetch(`${url}/v1/license`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body,
      signal: AbortSignal.timeout(giveUpAfterMs),
    });
    const answer = Buffer.from(await response.arrayBuffer());
    return { status: response.status, latencyMs: performance.now() - started, retryAfter: response.headers.get('retry-after'), body: answer };
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
    return { status: timedOut ? 'timeout' : 'error', latencyMs: performance.now() - started, retryAfter: null, body: Buffer.alloc(0) };
  }
}

/** Sends at `perSecond` until `until` resolves, round-robin over gateways and URLs; waits for every answer. */
export async function runLoad(options: LoadOptions): Promise<SentRequest[]> {
  let stopped = false;
  void options.until.then(() => (stopped = true));
  const inFlight: Array<Promise<SentRequest>> = [];
  const interval = 1000 / options.perSecond;
  const started = Date.now();
  for (let n = 0; !stopped; n++) {
    const gateway = options.gateways[n % options.gateways.length] as BoxSecretKey;
    const url = options.urls[n % options.urls.length] as string;
    const sealed = sealedRequest(gateway, options.serverBoxPublicKey);
    const sentAtMs = Date.now();
    inFlight.push(post(url, sealed.body, options.giveUpAfterMs).then((answer) => ({ configHash: sealed.configHash, sessionId: sealed.sessionId, sentAtMs, ...answer })));
    const next = started + (n + 1) * interval;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
  }
  return Promise.all(inFlight);
}

/** "200×310 503×45" */
export function statusSummary(requests: readonly SentRequest[]): string {
  const counts = new Map<string, number>();
  for (const r of requests) counts.set(String(r.status), (counts.get(String(r.status)) ?? 0) + 1);
  return [...counts.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, count]) => `${status}×${count}`)
    .join(' ');
}
