/**
 * Metrics sink and query benchmark.
 *
 *   KAFKA_BROKERS=… DATABASE_URL=… npx tsx tools/metrics/bench.ts [reports] [stored]
 *
 * 1. Sink: publishes `reports` telemetry records (default 200,000; 10,000 sessions, 6 partitions) in
 *    the ingress' format to a fresh topic, starts the built metrics service (`npx tsx tools/build.ts
 *    metrics` first) on a scratch schema and times consume + validate + delta + store until every
 *    report is stored (stored reports/s, from the first stored report to the last).
 * 2. COPY: the same rows (copied out of metrics_report) loaded by psql's \copy into a table of the
 *    same shape and indexes: the raw PostgreSQL baseline. Target: sink >= 30 % of COPY and >= 20,000/s.
 * 3. Query: fills metrics_report to `stored` rows (default 10,000,000; generated server-side, with
 *    the matching hourly roll-up) over 90 days, then times 200 signed GET /v1/latency requests over
 *    random ranges (1 hour to 30 days, half filtered by agreement): p50/p95. Target p95 <= 100 ms.
 * Needs psql on the PATH. The scratch schema is dropped at the end.
 *
 * The sink's CPU per report (the service process's user + system time from the first stored report
 * to the last, from /proc) is printed beside its rate: on a shared machine it varies far less.
 *
 * Profiling: BENCH_CPU_PROF=<dir> runs the service with `node --cpu-prof --cpu-prof-dir=<dir>` (the
 * profile is written when the service exits, at the end of the bench); open it in Chrome DevTools.
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID, sign } from 'node:crypto';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { Client } from 'pg';
import { encodeTelemetryRecord, sampleTelemetryRecord } from '@license-ledger/metrics-usage';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
const root = path.resolve(__dirname, '../..');
const reports = Number(process.argv[2] ?? 200_000);
const stored = Number(process.argv[3] ?? 10_000_000);
const brokersVar = process.env['KAFKA_BROKERS'];
const databaseUrl = process.env['DATABASE_URL'];
if (!brokersVar || !databaseUrl) {
  process.stderr.write('KAFKA_BROKERS and DATABASE_URL must be set\n');
  process.exit(2);
}
const brokers = brokersVar.split(',');
const mainJs = path.join(root, 'dist/apps/metrics/apps/metrics/src/main.js');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
/** CPU seconds (user + system) a process (or only its main thread) has used so far (Linux /proc). */
function cpuSeconds(pid: number | undefined, mainThread = false): number {
  const fields = readFileSync(mainThread ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

async function main(): Promise<void> {
  const schema = `bench_metrics_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
  const db = new Client({ connectionString: databaseUrl });
  // A connection lost between queries is reported here instead of killing the process unexplained.
  db.on('error', (error) => process.stderr.write(`database connection failed: ${error.message}\n`));
  await db.connect();
  await db.query(`CREATE SCHEMA ${schema}`);
  await db.query(`SET search_path TO ${schema}`);
  const migrations = path.join(root, 'prisma/migrations');
  for (const dir of readdirSync(migrations, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()) {
    await db.query(readFileSync(path.join(migrations, dir, 'migration.sql'), 'utf8'));
  }
  const url = new URL(databaseUrl as string);
  url.searchParams.set('options', `-c search_path=${schema}`);
  const topic = `bench.metrics.${randomUUID().slice(0, 8)}`;
  const port = 39_000 + Math.floor(Math.random() * 1000);
  let service: ReturnType<typeof spawn> | undefined;
  try {
    // --- 1. sink ---
    const admin = new Kafka({ clientId: 'bench-admin', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 6 }], waitForLeaders: true });
    await admin.disconnect();
    const bus = new KafkaJsMessageBus({ clientId: 'bench', brokers, logger: silent });
    await bus.connect();
    const sessions = Math.max(1, Math.min(10_000, Math.floor(reports / 20)));
    const t0 = Date.parse('2026-06-01T00:00:00Z');
    let batch: Array<{ key: string; value: Buffer }> = [];
    const publishStarted = performance.now();
    for (let i = 0; i < reports; i++) {
      const s = i % sessions;
      const n = Math.floor(i / sessions) + 1;
      const record = sampleTelemetryRecord({
        session_id: `bench-${s}`,
        agreement_id: `agreement-${s % 100}`,
        nonce: randomBytes(16).toString('hex'),
        received_time_utc: (BigInt(t0 + i * 10) * 1_000_000n).toString(),
        create_order: n * 10,
        modify_order: n * 3,
        cancel_order: n * 2,
        internal_latency_sum: n * 5000,
        internal_latency_count_500ns: n,
        internal_latency_count_1us: n * 2,
        internal_latency_count_2us: n * 3,
        internal_latency_count_5us: n * 4,
        internal_latency_count_10us: n * 4,
        internal_latency_count_20us: n * 4,
        internal_latency_count_inf: n * 4,
      });
      // The ingress publishes schema version 2 (binary, docs/telemetry.md).
      batch.push({ key: `bench-${s}`, value: encodeTelemetryRecord(record) });
      if (batch.length === 300) {
        await bus.publish(topic, batch);
        batch = [];
      }
    }
    if (batch.length > 0) await bus.publish(topic, batch);
    await bus.close();
    log(`published ${fmt(reports)} telemetry records (${sessions} sessions) in ${((performance.now() - publishStarted) / 1000).toFixed(1)} s`);

    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await db.query(`INSERT INTO metrics_api_key (key_id, owner, public_key_pem) VALUES ('bench', 'bench', $1)`, [publicKey.export({ type: 'spki', format: 'pem' })]);
    const spawned = performance.now();
    const profileDir = process.env['BENCH_CPU_PROF'];
    service = spawn(process.execPath, [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), mainJs], {
      env: {
        ...process.env,
        DATABASE_URL: url.toString(),
        DATABASE_POOL_SIZE: '8',
        PORT: String(port),
        LOG_LEVEL: 'warn',
        TELEMETRY_TOPIC: topic,
        TELEMETRY_CONSUMER_GROUP: `bench-${randomUUID().slice(0, 8)}`,
        API_AUTH_MAX_FAILURES: '1000',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const storedCount = async (): Promise<number> => {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text()).catch(() => '');
      const m = /^telemetry_reports_stored_total\{[^}]*\} (\d+)/m.exec(text);
      return m ? Number(m[1]) : 0;
    };
    let first: number | undefined;
    let firstCount = 0;
    let firstCpu = 0;
    let firstMainCpu = 0;
    for (;;) {
      const count = await storedCount();
      if (count > 0 && first === undefined) {
        first = performance.now();
        firstCount = count;
        firstCpu = cpuSeconds(service.pid);
        firstMainCpu = cpuSeconds(service.pid, true);
      }
      if (count >= reports) break;
      if (performance.now() - spawned > 30 * 60_000) throw new Error(`sink stalled at ${count}`);
      await sleep(200);
    }
    const done = performance.now();
    const sinkCpuUs = ((cpuSeconds(service.pid) - firstCpu) * 1e6) / (reports - firstCount);
    const sinkMainCpuUs = ((cpuSeconds(service.pid, true) - firstMainCpu) * 1e6) / (reports - firstCount);
    const sinkRate = (reports - firstCount) / ((done - (first as number)) / 1000);
    const sinkRateAll = reports / ((done - spawned) / 1000);
    const negatives = await db.query(`SELECT count(*)::int AS n FROM metrics_report WHERE create_order < 0 OR int_inf < 0`);
    const fallbacks = [...(await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text())).matchAll(/^telemetry_store_fallbacks_total\{[^}]*reason="(\w+)"[^}]*\} (\d+)/gm)]
      .map((m) => `${m[1]} ${m[2]}`)
      .join(', ');
    log(`sink: ${fmt(sinkRate)} stored reports/s (first to last stored; ${fmt(sinkRateAll)}/s including service start and group join); negative deltas: ${negatives.rows[0].n}; batches retried locked: ${fallbacks || 'none'}`);
    log(`sink CPU: ${sinkCpuUs.toFixed(1)} µs per report, ${sinkMainCpuUs.toFixed(1)} on its main thread (user + system, first to last stored: steadier than the rate on a busy machine)`);

    // --- 2. COPY baseline ---
    const file = `/tmp/${schema}.copy`;
    const columns = (await db.query(`SELECT string_agg(quote_ident(column_name), ',' ORDER BY ordinal_position) AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'metrics_report' AND column_name <> 'id'`, [schema])).rows[0].c as string;
    await db.query(`CREATE TABLE copy_target (LIKE metrics_report INCLUDING ALL)`);
    const psql = (command: string) => {
      const result = spawnSync('psql', [url.toString().replace(/\+/g, '%20'), '-v', 'ON_ERROR_STOP=1', '-qc', command], { encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`psql: ${result.stderr}`);
    };
    psql(`\\copy (SELECT ${columns} FROM metrics_report) TO '${file}'`);
    const copyStarted = performance.now();
    psql(`\\copy copy_target (${columns}) FROM '${file}'`);
    const copyRate = reports / ((performance.now() - copyStarted) / 1000);
    rmSync(file, { force: true });
    log(`COPY: ${fmt(copyRate)} rows/s into a table with the same indexes; sink = ${((100 * sinkRate) / copyRate).toFixed(0)} % of COPY`);
    await db.query(`DROP TABLE copy_target`);

    // --- 3. latency query over `stored` reports ---
    const missing = stored - reports;
    const days = 90;
    const start = Date.parse('2026-01-01T00:00:00Z');
    if (missing > 0) {
      const loadStarted = performance.now();
      const chunk = 1_000_000;
      for (let from = 0; from < missing; from += chunk) {
        const to = Math.min(missing, from + chunk);
        await db.query(
          `INSERT INTO metrics_report (session_id, nonce, agreement_id, package_name, api, received_at, request_time_utc, decision, kafka_partition, kafka_offset,
             restart, symbols, accounts, users, create_order, modify_order, cancel_order, cancel_all_orders, mass_quote, cancel_quotes,
             please_report, please_report_details, download_trades, download_orders, event_log, position_manager, risk_manager, journal, udp_publish,
             int_sum, int_500ns, int_1us, int_2us, int_5us, int_10us, int_20us, int_inf, ext_sum, ext_10us, ext_100us, ext_1ms, ext_10ms, ext_100ms, ext_1s, ext_inf)
           SELECT 'load-' || (g % 20000), lpad(to_hex(g), 32, '0'), 'agreement-' || (g % 100), 'package-' || (g % 5), 'api-' || (g % 3),
             to_timestamp(${start / 1000} + (g::float8 / ${missing}) * ${days * 86400}), 0, 'granted', g % 6, g, false, 1, 1, 1,
             g % 7, g % 3, g % 5, 0, 0, 0, g % 50 = 0, false, g % 2 = 0, false, true, false, g % 3 = 0, false, false,
             5000 + g % 1000, g % 4, g % 4 + 3, g % 4 + 6, g % 4 + 8, g % 4 + 9, g % 4 + 9, g % 4 + 10,
             900000 + g % 1000, 1, 2 + g % 3, 5, 7, 8, 8, 9
           FROM generate_series($1::bigint, $2::bigint - 1) AS g`,
          [from, to],
        );
        process.stderr.write(`\rloaded ${fmt(to)} / ${fmt(missing)}`);
      }
      process.stderr.write('\n');
      await db.query(`DELETE FROM metrics_latency_hourly`);
      await db.query(`DELETE FROM metrics_latency_daily`);
      await db.query(
        `INSERT INTO metrics_latency_hourly SELECT date_trunc('hour', received_at, 'UTC'), coalesce(agreement_id, ''), package_name, api, count(*),
           sum(int_sum), sum(int_500ns), sum(int_1us), sum(int_2us), sum(int_5us), sum(int_10us), sum(int_20us), sum(int_inf),
           sum(ext_sum), sum(ext_10us), sum(ext_100us), sum(ext_1ms), sum(ext_10ms), sum(ext_100ms), sum(ext_1s), sum(ext_inf)
         FROM metrics_report GROUP BY 1, 2, 3, 4`,
      );
      await db.query(
        `INSERT INTO metrics_latency_daily SELECT date_trunc('day', hour, 'UTC'), agreement_id, package_name, api, sum(reports),
           sum(int_sum), sum(int_500ns), sum(int_1us), sum(int_2us), sum(int_5us), sum(int_10us), sum(int_20us), sum(int_inf),
           sum(ext_sum), sum(ext_10us), sum(ext_100us), sum(ext_1ms), sum(ext_10ms), sum(ext_100ms), sum(ext_1s), sum(ext_inf)
         FROM metrics_latency_hourly GROUP BY 1, 2, 3, 4`,
      );
      await db.query(`ANALYZE metrics_latency_daily`);
      await db.query(`ANALYZE metrics_report`);
      await db.query(`ANALYZE metrics_latency_hourly`);
      log(`loaded ${fmt(missing)} more reports server-side in ${((performance.now() - loadStarted) / 1000).toFixed(0)} s (generated, not through the sink)`);
    }
    const total = Number((await db.query(`SELECT count(*) AS n FROM metrics_report`)).rows[0].n);
    const times: number[] = [];
    const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
    for (let i = 0; i < 200; i++) {
      const length = 3_600_000 + Math.random() * 30 * 86_400_000;
      const from = start + Math.random() * (days * 86_400_000 - length);
      let p = `/v1/latency?from=${iso(Math.floor(from / 1000) * 1000)}&to=${iso(Math.floor((from + length) / 1000) * 1000)}`;
      if (i % 2 === 1) p += `&agreement=agreement-${i % 100}`;
      const signature = sign('sha256', Buffer.from(`GET:${p}`), privateKey).toString('base64');
      const began = performance.now();
      const response = await fetch(`http://127.0.0.1:${port}${p}`, { headers: { 'X-API-Key': 'bench', 'X-API-Signature': signature } });
      await response.text();
      if (response.status !== 200) throw new Error(`latency query: ${response.status}`);
      times.push(performance.now() - began);
    }
    times.sort((a, b) => a - b);
    const pct = (q: number) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)] as number;
    log(`latency query over ${fmt(total)} stored reports (200 signed requests, ranges 1 h to 30 d): p50 ${pct(0.5).toFixed(1)} ms, p95 ${pct(0.95).toFixed(1)} ms, max ${pct(1).toFixed(1)} ms`);
  } finally {
    const exited = service && service.exitCode === null ? new Promise((resolve) => service?.once('exit', resolve)) : undefined;
    service?.kill('SIGTERM');
    // A CPU profile is written as the service exits.
    if (process.env['BENCH_CPU_PROF']) await exited;
    await db.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
    await db.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
