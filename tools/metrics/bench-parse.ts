/**
 * Micro-benchmark of the sink's per-report CPU, in µs per report: parse and reportDelta of the
 * current record (version 3, FlatBuffers) and of the legacy formats still read until 2026-12-08 (v1
 * JSON, v2 binary), and the ingress's work per record: the record around the request's sealed bytes,
 * checked with the sink's parser. `npx tsx tools/metrics/bench-parse.ts`
 */
import { randomBytes } from 'node:crypto';
import { encodeLegacyV2, encodeTelemetry, encodeTelemetryRecord, parseTelemetry, reportDelta, sampleTelemetryRecord, type SessionState, type TelemetryReport } from '@license-ledger/metrics-usage';
import { encodeLicenseRequest, exampleLicenseRequest } from '@license-ledger/protocol-wire';

const N = 20_000;
const records = Array.from({ length: N }, (_, i) =>
  sampleTelemetryRecord({ session_id: `bench-${i % 1000}`, nonce: randomBytes(16).toString('hex'), create_order: Math.floor(i / 1000) * 10, internal_latency_sum: i * 5000, internal_latency_count_inf: i }),
);
const v3 = records.map((r) => encodeTelemetryRecord(r));
const v1 = records.map((r) => Buffer.from(JSON.stringify(r)));
const v2 = records.map((r) => encodeLegacyV2(r));
// What the ingress holds per request: the LicenseRequest's bytes as the gateway sealed them, and who/when.
const requests = records.map((r, i) =>
  encodeLicenseRequest(
    exampleLicenseRequest({ sessionId: r['session_id'] as string, nonce: randomBytes(16), createOrder: BigInt(Math.floor(i / 1000) * 10), internalLatencySum: BigInt(i * 5000), internalLatencyCountInf: BigInt(i) }),
  ),
);
const context = { agreement_id: 'acme', key_fingerprint: 'fp-0001', received_time_utc: 1795000000000000000n, decision: 'granted', ingress_instance: 'ingress-1' } as const;
const us = (started: number): string => (((performance.now() - started) * 1000) / N).toFixed(2);

for (let round = 0; round < 5; round++) {
  const line: string[] = [];
  for (const [name, values] of [['v3 (sink)', v3], ['legacy v1', v1], ['legacy v2', v2]] as const) {
    let t = performance.now();
    const reports: TelemetryReport[] = values.map((v) => {
      const p = parseTelemetry(v);
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
  const encoded = requests.map((request) => encodeTelemetry(context, request));
  line.push(`ingress encode v3 ${us(t)} µs`);
  t = performance.now();
  for (const value of encoded) if (!parseTelemetry(value).ok) throw new Error('unstorable');
  line.push(`(+ check ${us(t)} µs)`);
  line.push(`(sizes v3 ${v3[0]?.length} B, v1 ${v1[0]?.length} B, v2 ${v2[0]?.length} B)`);
  console.log(line.join(', '));
}
