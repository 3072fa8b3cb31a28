import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Topics } from '@license-ledger/platform-kafka';
import { eventually, readTopic } from '@license-ledger/platform-testing';
import type { BoxSecretKey } from '@license-ledger/protocol-crypto';
import { Client } from 'pg';
import { fuzzBodies } from './faults/fuzz';
import { post, runLoad, sealedRequest, statusSummary, type SentRequest } from './faults/load';
import { isAlive, KafkaRig, ledgerVerify, PostgresRig, rssMiB } from './faults/rig';
import { ANSWER_WITHIN_MS, ledgerGrants, LEDGER_TIMEOUT_MS, sleep, startLicensedSystem } from './faults/system';
import { startBuiltService, workspaceRoot, type BuiltService } from './support/built-service';

/**
 * Faults, on a broker and a database of the suite's own (real servers it can kill and restart),
 * with the built services: a broker killed under load, PostgreSQL stopped under load, the metrics
 * service killed, and hostile bodies. Each case is bounded in time and adds a row to the table
 * printed at the end (case, requests, statuses, worst latency, verdict).
 */
jest.setTimeout(600_000);

const RATE = 20;
const WINDOW_S = 6;

interface Row {
  readonly name: string;
  readonly requests: number;
  readonly statuses: string;
  readonly worstMs: number;
  verdict: string;
  notes?: string;
}

describe('faults and hostile input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faults-'));
  chmodSync(dir, 0o755); // the embedded server's user must reach its data directory
  const rows: Row[] = [];
  const services: Record<string, BuiltService> = {};
  /** Services the suite killed and replaced: their logs are kept too. */
  const retired: Array<[string, BuiltService]> = [];
  let kafka: KafkaRig;
  let postgres: PostgresRig;
  let gateways: readonly BoxSecretKey[];
  let serverBox: Uint8Array;
  let env: Record<string, string>;
  let urls: () => string[];

  beforeAll(async () => {
    [kafka, postgres] = await Promise.all([KafkaRig.start(join(dir, 'kafka')), PostgresRig.start(join(dir, 'postgres'))]);
    // A short time window, so the replay case can cross both of its edges within seconds.
    const system = await startLicensedSystem({ name: 'faults', dir, brokers: [kafka.brokers], databaseUrl: postgres.url, ingressEnv: { REQUEST_TIME_WINDOW_SECONDS: String(WINDOW_S) } });
    ({ env, gateways, serverBox, urls } = system);
    Object.assign(services, system.services);
  });

  afterAll(async () => {
    const table = [
      '| case | requests | statuses | worst latency | verdict | notes |',
      '| --- | ---: | --- | ---: | --- | --- |',
      ...rows.map((r) => `| ${r.name} | ${r.requests} | ${r.statuses} | ${Math.round(r.worstMs)} ms | ${r.verdict} | ${r.notes ?? ''} |`),
    ].join('\n');
    process.stdout.write(`\nFault suite\n${table}\n`);
    mkdirSync(join(workspaceRoot, 'tmp'), { recursive: true });
    writeFileSync(join(workspaceRoot, 'tmp', 'fault-suite.md'), `${table}\n`);
    // The services' own logs, kept as test artifacts for whoever reads a failed verdict.
    for (const [name, service] of [...retired, ...Object.entries(services)]) {
      writeFileSync(join(workspaceRoot, 'tmp', `fault-suite-${name}.log`), service.output.join(''));
    }
    for (const service of Object.values(services)) if (service.child.exitCode === null) service.child.kill('SIGKILL');
    await kafka?.stop();
    await postgres?.stopServer();
    rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  });

  /** Records the case's row, then runs its assertions: a failing case still shows in the table. */
  async function record(name: string, requests: readonly SentRequest[], check: (row: Row) => Promise<void>): Promise<void> {
    const row: Row = { name, requests: requests.length, statuses: statusSummary(requests), worstMs: Math.max(0, ...requests.map((r) => r.latencyMs)), verdict: 'FAILED' };
    rows.push(row);
    await check(row);
    row.verdict = 'passed';
  }

  function expectNoServiceExited(): void {
    expect(Object.entries(services).filter(([, s]) => s.child.exitCode !== null || s.child.signalCode !== null).map(([name]) => name)).toEqual([]);
  }

  /** When the ledger decided each grant record, per config hash. */
  const grantsByHash = async (): Promise<Map<string, number[]>> => ledgerGrants(await readTopic([kafka.brokers], Topics.leaseEvents.name)).records;

  /** Stored telemetry reports per session id, for these sessions. */
  async function storedReports(sessionIds: readonly string[]): Promise<Map<string, number>> {
    const client = new Client({ connectionString: postgres.url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const rows = await client.query<{ session_id: string; n: number }>('SELECT session_id, count(*)::int AS n FROM metrics_report WHERE session_id = ANY($1) GROUP BY session_id', [sessionIds]);
      return new Map(rows.rows.map((r) => [r.session_id, r.n]));
    } finally {
      await client.end();
    }
  }

  async function expectEveryGrantStoredOnce(requests: readonly SentRequest[]): Promise<void> {
    const granted = requests.filter((r) => r.status === 200).map((r) => r.sessionId);
    const stored = await eventually('the telemetry of every 200 stored', 90_000, async () => {
      const counts = await storedReports(granted);
      return counts.size === granted.length ? counts : undefined;
    });
    expect([...stored.values()].filter((n) => n !== 1)).toEqual([]);
  }

  /**
   * A 503 means the ledger did not decide the request after its asker gave up. A decision taken in
   * time can still become visible late when its transaction's commit was in flight as the broker
   * died: counted in the row's notes, not a failure (README, "Faults").
   */
  function expectNo503DecidedLate(requests: readonly SentRequest[], grants: Map<string, number[]>, row: Row): void {
    const unavailable = requests.filter((r) => r.status === 503);
    const decidedLate = unavailable.filter((r) => (grants.get(r.configHash) ?? []).some((at) => at > r.sentAtMs + LEDGER_TIMEOUT_MS + 500));
    expect(decidedLate.map((r) => `${r.configHash} sent at ${r.sentAtMs}, decided at ${grants.get(r.configHash)?.join(',')}`)).toEqual([]);
    const visibleLate = unavailable.filter((r) => grants.has(r.configHash)).length;
    if (visibleLate > 0) row.notes = `${row.notes ?? ''}; ${visibleLate} decided in time but committed as the broker died`.replace(/^; /, '');
  }

  async function expectLedgerVerifies(): Promise<void> {
    // The projection may still be catching up: verify until it matches the log (bounded).
    const result = await eventually('ledger verify to pass', 90_000, async () => {
      const verify = await ledgerVerify(env);
      return verify.code === 0 ? verify : undefined;
    });
    expect(result.code).toBe(0);
  }

  it('broker killed -9 under load and restarted: every request answered in time, no 503 decided later, 200s again once it is back (time printed)', async () => {
    let brokerBackAt = 0;
    const fault = (async () => {
      await sleep(4_000);
      await kafka.killBroker();
      await sleep(3_000);
      await kafka.startBroker();
      brokerBackAt = Date.now();
      await sleep(12_000);
    })();
    const requests = await runLoad({ urls: urls(), gateways, serverBoxPublicKey: serverBox, perSecond: RATE, until: fault, giveUpAfterMs: ANSWER_WITHIN_MS + 5_000 });
    await record('broker killed -9 and restarted', requests, async (row) => {
      expectNoServiceExited();
      expect(requests.filter((r) => r.latencyMs > ANSWER_WITHIN_MS).map((r) => `${r.status} in ${Math.round(r.latencyMs)} ms`)).toEqual([]);
      expect(requests.filter((r) => r.status !== 200 && r.status !== 503)).toEqual([]);
      expect(requests.filter((r) => r.status === 503 && r.retryAfter === null)).toEqual([]);
      expect(requests.some((r) => r.status === 503)).toBe(true); // the outage was real
      const firstAfter = requests.find((r) => r.status === 200 && r.sentAtMs >= brokerBackAt);
      if (!firstAfter) throw new Error('no 200 after the broker came back');
      // A figure to read, not a timed test: bounded only so that "never recovers" fails.
      const recoveryMs = firstAfter.sentAtMs + firstAfter.latencyMs - brokerBackAt;
      row.notes = `first 200 ${(recoveryMs / 1000).toFixed(1)} s after the broker was back`;
      expect(recoveryMs).toBeLessThanOrEqual(30_000);
      const grants = await grantsByHash();
      expect(requests.filter((r) => r.status === 200 && grants.get(r.configHash)?.length !== 1).length).toBe(0);
      expectNo503DecidedLate(requests, grants, row);
      await expectLedgerVerifies();
    });
  });

  it('PostgreSQL stopped under load and started again: the ingress stays ready and answers 200; projection and telemetry catch up', async () => {
    const readiness: number[] = [];
    const fault = (async () => {
      await sleep(3_000);
      await postgres.stopServer();
      for (const until = Date.now() + 5_000; Date.now() < until; await sleep(500)) {
        readiness.push((await fetch(`${urls()[0]}/health/ready`)).status);
      }
      await postgres.startServer();
      await sleep(4_000);
    })();
    const requests = await runLoad({ urls: urls(), gateways, serverBoxPublicKey: serverBox, perSecond: RATE, until: fault, giveUpAfterMs: ANSWER_WITHIN_MS + 5_000 });
    await record('PostgreSQL stopped and started', requests, async () => {
      expectNoServiceExited();
      expect(readiness.length).toBeGreaterThanOrEqual(3);
      expect(readiness.filter((status) => status !== 200)).toEqual([]);
      expect(requests.filter((r) => r.status !== 200).map((r) => r.status)).toEqual([]);
      await expectEveryGrantStoredOnce(requests);
      await expectLedgerVerifies();
    });
  });

  it('metrics service killed -9 under load and started again: every report stored exactly once', async () => {
    const fault = (async () => {
      await sleep(3_000);
      const metrics = services['metrics'] as BuiltService;
      metrics.child.kill('SIGKILL');
      await new Promise((resolve) => metrics.child.once('exit', resolve));
      retired.push(['metrics-killed', metrics]);
      await sleep(1_000);
      services['metrics'] = await startBuiltService('metrics', env, 'faults-metrics-2');
      await sleep(3_000);
    })();
    const requests = await runLoad({ urls: urls(), gateways, serverBoxPublicKey: serverBox, perSecond: RATE, until: fault, giveUpAfterMs: ANSWER_WITHIN_MS + 5_000 });
    await record('metrics killed -9 and restarted', requests, async () => {
      expectNoServiceExited();
      expect(requests.filter((r) => r.status !== 200).map((r) => r.status)).toEqual([]);
      await expectEveryGrantStoredOnce(requests);
    });
  });

  it('one request replayed to the other ingress, stamped at the far edge of the time window: decided once', async () => {
    const gateway = gateways[1] as BoxSecretKey;
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    // Stamped almost a whole window ahead: accepted now, and still inside the window for two windows.
    const stamped = nowNs + BigInt(WINDOW_S - 1) * 1_000_000_000n;
    const sealed = sealedRequest(gateway, serverBox, { requestTimeUtc: stamped, tokenExpiryTimeUtc: stamped + 3_600_000_000_000n });
    const [a, b] = urls() as [string, string];
    const answers: SentRequest[] = [];
    const send = async (url: string): Promise<void> => {
      const answer = await post(url, sealed.body, ANSWER_WITHIN_MS);
      answers.push({ configHash: sealed.configHash, sessionId: sealed.sessionId, sentAtMs: Date.now(), ...answer });
    };
    await send(a);
    await send(b); // the same body at once, to the ingress that has not seen its nonce
    // Past the time the request names, to the far edge of the window behind it.
    const lateEdge = Number(stamped / 1_000_000n) + (WINDOW_S - 1) * 1_000;
    await sleep(Math.max(0, lateEdge - Date.now()));
    await send(b);
    await sleep(2_500); // now outside the window on both sides
    await send(b);
    const grants = await grantsByHash();
    await record('replay across two ingresses at both window edges', answers, async () => {
      expectNoServiceExited();
      expect(answers[0]?.status).toBe(200);
      // Replays get the first outcome (the ledger decides a request id once) or a refusal; never a second grant.
      expect(answers.slice(1, 3).map((r) => r.status).every((status) => status === 200 || status === 400)).toBe(true);
      expect(answers[3]?.status).toBe(400);
      expect(grants.get(sealed.configHash)).toHaveLength(1);
      await expectLedgerVerifies();
    });
  });

  it('hostile bodies: never a 5xx, no process exits, memory bounded, and the partitions still work afterwards', async () => {
    const ingress = services['ingress-a'] as BuiltService;
    const pid = ingress.child.pid as number;
    const rssBefore = rssMiB(pid);
    const bodies = fuzzBodies(20261201, gateways[0] as BoxSecretKey, serverBox, 150);
    const answers: SentRequest[] = [];
    for (let i = 0; i < bodies.length; i += 10) {
      const batch = bodies.slice(i, i + 10);
      const results = await Promise.all(batch.map((b) => post(urls()[0] as string, b.body, 10_000)));
      results.forEach((r, j) => answers.push({ configHash: '', sessionId: `${batch[j]?.kind}`, sentAtMs: 0, ...r }));
    }
    // Valid requests after the storm: decided, answered and their telemetry stored.
    const after = await runLoad({ urls: urls(), gateways, serverBoxPublicKey: serverBox, perSecond: RATE, until: sleep(2_000), giveUpAfterMs: ANSWER_WITHIN_MS });
    await record('fuzz: random, mutated envelopes and payloads', answers, async () => {
      expect(isAlive(pid)).toBe(true);
      expectNoServiceExited();
      const serverErrors = answers.filter((r) => r.status === 'timeout' || r.status === 'error' || r.status >= 500);
      expect(serverErrors.map((r) => `${r.sessionId}: ${r.status}`)).toEqual([]);
      expect(rssMiB(pid) - rssBefore).toBeLessThan(150);
      expect(after.filter((r) => r.status !== 200).map((r) => r.status)).toEqual([]);
      await expectEveryGrantStoredOnce(after);
    });
  });
});
