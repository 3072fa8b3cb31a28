/**
 * What the ingress benchmark measures HTTP against: the crypto alone on one core, and the ledger
 * alone through LedgerClient (no HTTP, no crypto).
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { LedgerClient } from '@license-ledger/lease-ledger';
import { toBase64, type BoxSecretKey } from '@license-ledger/protocol-crypto';
import type { LicenseServerCrypto } from '@license-ledger/protocol-exchange';
import type { AccessToken } from '@license-ledger/protocol-wire';
import { percentile } from './bench-load';

/** open + decode + sign + seal per second on this thread, with every gateway's shared key cached. */
export function inProcessCeiling(crypto: LicenseServerCrypto, bodies: readonly Uint8Array[], seconds: number): number {
  let done = 0;
  const until = performance.now() + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 200; i++) {
      const opened = crypto.openRequest(bodies[done % bodies.length] ?? new Uint8Array());
      const now = BigInt(Date.now()) * 1_000_000n;
      const token: AccessToken = {
        tokenId: 'bench',
        agreementId: 'bench',
        gatewayPublicKey: opened.gatewayPublicKey,
        configHash: opened.request.configHash,
        packageName: opened.request.packageName,
        issuedTimeUtc: now,
        expiryTimeUtc: now + 600_000_000_000n,
        nonce: opened.request.nonce,
        renewTimeUtc: now + 300_000_000_000n,
      };
      crypto.sealToken(token);
      done += 1;
    }
  }
  return done / seconds;
}

export interface LedgerOnlyOptions {
  readonly ledger: LedgerClient;
  readonly agreementId: string;
  readonly gateways: readonly BoxSecretKey[];
  readonly configHashes: readonly Uint8Array[];
  readonly concurrency: number;
  readonly seconds: number;
}

/** Renewals the lease service answers through LedgerClient, `concurrency` in flight; one line. */
export async function ledgerOnly(options: LedgerOnlyOptions): Promise<string> {
  const { ledger, agreementId, gateways, configHashes, concurrency } = options;
  const latencies: number[] = [];
  let granted = 0;
  let n = 0;
  const started = performance.now();
  const until = started + options.seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      const i = n++ % gateways.length;
      const sent = performance.now();
      const outcome = await ledger.send(
        {
          type: 'AcquireLock',
          data: {
            agreementId,
            configHash: Buffer.from(configHashes[i] ?? new Uint8Array(32)).toString('hex'),
            holder: { key: toBase64((gateways[i] as BoxSecretKey).publicKey), hostname: 'bench', processId: 1000 + i, sessionId: `gw-${i}` },
          },
          metadata: { requestId: randomUUID() },
        },
        30_000,
      );
      latencies.push(performance.now() - sent);
      if (outcome.kind === 'granted') granted += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  latencies.sort((a, b) => a - b);
  const seconds = (performance.now() - started) / 1000;
  return `ledger only (LedgerClient -> lease service, ${concurrency} in flight): ${Math.round(granted / seconds)} renewals/s; latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`;
}

/** The ingress's ledger answer-time histogram (license_ledger_answer_seconds) as one line of cumulative buckets. */
export async function ledgerAnswerBuckets(ingressUrl: string): Promise<string> {
  const scraped = await fetch(`${ingressUrl}/metrics`).then((r) => r.text(), () => '');
  const lines = scraped.split('\n').filter((line) => line.startsWith('license_ledger_answer_seconds_bucket') || line.startsWith('license_ledger_answer_seconds_count'));
  return lines.map((line) => line.replace(/^.*le="([^"]+)".* (\d+)$/, '<=$1s:$2').replace(/^license_ledger_answer_seconds_count.* (\d+)$/, 'count:$1')).join(' ');
}
