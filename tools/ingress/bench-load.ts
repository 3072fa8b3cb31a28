/**
 * The load of the ingress benchmark: serialised requests sent closed-loop (a fixed number in
 * flight, for the highest rate) or open-loop (a fixed schedule, for the latency at a given rate).
 */
import { performance } from 'node:perf_hooks';
import { RawHttpClient } from './raw-http';

export interface LoadResult {
  readonly statuses: Map<number, number>;
  /** Milliseconds, sorted. */
  readonly latencies: number[];
  readonly seconds: number;
  /** CPU this process (the load generator) used during the phase, in seconds. */
  readonly clientCpuSeconds: number;
}

export const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

const cpuSeconds = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
};

/** One POST; a kept-alive socket the server closed meanwhile is retried once on a new one. */
async function post(http: RawHttpClient, request: Buffer): Promise<number> {
  const status = await http.post(request);
  return status === 0 ? http.post(request) : status;
}

/** Every request once, `concurrency` at a time (a warm-up). */
export async function sendAll(http: RawHttpClient, requests: readonly Buffer[], concurrency: number): Promise<void> {
  for (let i = 0; i < requests.length; i += concurrency) await Promise.all(requests.slice(i, i + concurrency).map((r) => post(http, r)));
}

/** `concurrency` requests in flight for `seconds` (or until the requests run out). */
export async function closedLoop(http: RawHttpClient, requests: readonly Buffer[], concurrency: number, seconds: number): Promise<LoadResult> {
  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  const until = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < until && next < requests.length) {
      const request = requests[next++] as Buffer;
      const sent = performance.now();
      const status = await post(http, request);
      latencies.push(performance.now() - sent);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { statuses, latencies: latencies.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000, clientCpuSeconds: cpuSeconds(cpu) };
}

/** Every request at its due time, `rate` per second; latency counts from when it was due. */
export async function openLoop(http: RawHttpClient, requests: readonly Buffer[], rate: number): Promise<LoadResult> {
  const statuses = new Map<number, number>();
  const latencies: number[] = [];
  const started = performance.now();
  const cpu = process.cpuUsage();
  const inFlight: Array<Promise<void>> = [];
  for (let n = 0; n < requests.length; n++) {
    const due = started + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    inFlight.push(
      post(http, requests[n] as Buffer).then((status) => {
        // A late send counts against the server, as a gateway would see it.
        latencies.push(performance.now() - due);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }),
    );
  }
  await Promise.all(inFlight);
  return { statuses, latencies: latencies.sort((a, b) => a - b), seconds: (performance.now() - started) / 1000, clientCpuSeconds: cpuSeconds(cpu) };
}

/** Granted (200) answers per second. */
export const grantRate = (result: LoadResult): number => (result.statuses.get(200) ?? 0) / result.seconds;

/** One phase's line: rate, statuses, p50/p99 and the load generator's CPU. */
export function describeResult(what: string, result: LoadResult): string {
  const ok = result.statuses.get(200) ?? 0;
  return (
    `${what}: ${Math.round(grantRate(result))} renewals/s (${ok} granted in ${result.seconds.toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries(result.statuses))}); ` +
    `latency p50 ${percentile(result.latencies, 50).toFixed(1)} ms, p99 ${percentile(result.latencies, 99).toFixed(1)} ms; ` +
    `load generator used ${Math.round((100 * result.clientCpuSeconds) / result.seconds)} % of a core`
  );
}
