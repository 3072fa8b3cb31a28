/**
 * Micro-benchmark of the sink's per-report CPU: parse (v1 JSON, v2 binary, v2 as the sink reads it) and reportDelta, in µs
 * per report, plus the ingress's encoding. `npx tsx tools/metrics/bench-parse.ts`
 */
import { randomBytes } from 'node:crypto';
import { encodeTelemetryRecord, parseTelemetry, parseTelemetryLazy, reportDelta, sampleTelemetryRecord, telemetrySourceOf, encodeTelemetry, type SessionState, type TelemetryReport } from '@license-ledger/metrics-usage';

const N = 20_000;
const records = Array.from({ length: N }, (_, i) =>
  sampleTelemetryRecord({ session_id: `bench-${i % 1000}`, nonce: randomBytes(16).toString('hex'), create_order: Math.floor(i / 1000) * 10, internal_latency_sum: i * 5000, internal_latency_count_inf: i }),
);
const v1 = records.map((r) => Buffer.from(JSON.stringify(r)));
const v2 = records.map((r) => encodeTelemetryRecord(r));
const sources = records.map((r) => telemetrySourceOf(r));
const us = (started: number): string => (((performance.now() - started) * 1000) / N).toFixed(2);

for (let round = 0; round < 5; round++) {
  const line: string[] = [];
  for (const [name, values, parse] of [['v1', v1, parseTelemetry], ['v2', v2, parseTelemetry], ['v2 lazy (sink)', v2, parseTelemetryLazy]] as const) {
    let t = performance.now();
    const reports: TelemetryReport[] = values.map((v) => {
      const p = parse(v);
      if (!p.ok) throw new Error(p.error);
      return p.report;
    });
    line.push(`parse ${name} ${us(t)} µs`);
    const states = new Map<string, SessionState>();
    t = performance.now();
    for (const r of reports) states.set(r.session_id, reportDelta(states.get(r.session_id), r).state);
    line.push(`delta ${us(t)} µs`);
  }
  let t = performance.now();
  for (const { request, context } of sources) encodeTelemetry(request, context);
  line.push(`encode v2 ${us(t)} µs`);
  t = performance.now();
  for (const r of records) Buffer.from(JSON.stringify(r));
  line.push(`(v1 JSON.stringify ${us(t)} µs; sizes v1 ${v1[0]?.length} B, v2 ${v2[0]?.length} B)`);
  console.log(line.join(', '));
}
