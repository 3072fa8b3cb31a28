import type { LicenseRequest } from './generated/license_generated';
import { Decision, type TelemetryRecord } from './generated/telemetry_generated';

/**
 * The telemetry record's fields (schema: libs/protocol/wire/schema/telemetry.fbs, which embeds
 * license.fbs's LicenseRequest): for each, its name, its type, the generated accessor it is read
 * through, what validation asks of it beyond its type, and where the metrics service stores it.
 * Everything else is derived from this one list: the reader's validation and layout, the SQL column
 * lists, the COPY row writer, the session facts and the analysts' query columns.
 *
 * Types: 64-bit integers are reported as canonical decimal strings; unsigned ones must be at most
 * 2^63-1 (PostgreSQL bigint). Strings are valid UTF-8, at most 4,096 characters, without U+0000;
 * absent ones read as '' (or null where `nullable`). `bytes` read as lowercase hex; `u32s` at most
 * 1,024 values.
 */
export type FieldType = 'i64' | 'u64' | 'bool' | 'str' | 'bytes' | 'u32s' | 'decision';
export type FieldTable = 'record' | 'request';
export type TelemetryDecision = keyof typeof Decision;
export type Histogram = 'internal' | 'external';

/** What the generated accessor returns for each type: the compiler holds each entry to the schema. */
export type Accessed<T extends FieldType> = T extends 'i64' | 'u64'
  ? bigint
  : T extends 'bool'
    ? boolean
    : T extends 'str'
      ? string | null
      : T extends 'bytes'
        ? Uint8Array | null
        : T extends 'u32s'
          ? Uint32Array | null
          : Decision;

type TableOf<S extends FieldTable> = S extends 'record' ? TelemetryRecord : LicenseRequest;

export interface FieldSpec {
  /** A metrics_report column: `true` names it like the field. A cumulative field's column holds its delta since the session's previous report. */
  readonly report?: true | string;
  /** The report column holds the time (ns since the epoch) as a timestamptz. */
  readonly timestamp?: true;
  /** A metrics_session column of the same name: a session fact. */
  readonly session?: true;
  /** A key of metrics_session.host: a host fact. */
  readonly host?: true;
  /** Identifies the gateway process (with the session): another one is a restart (deltas.ts). */
  readonly process?: true;
  /** Counted since the gateway process started (deltas.ts): an order counter or a latency histogram's sum (bound null) or bucket. */
  readonly cumulative?: 'counter' | { readonly histogram: Histogram; readonly boundNs: number | null };
  /** Validation: absent reads as null (and present must not be empty). */
  readonly nullable?: true;
  readonly nonEmpty?: true;
  /** Validation (bytes): exactly this many. */
  readonly length?: number;
}

export interface TelemetryField<N extends string = string, T extends FieldType = FieldType, S extends FieldTable = FieldTable, P extends FieldSpec = FieldSpec> {
  readonly name: N;
  readonly type: T;
  /** The table holding it: the record itself, or the LicenseRequest nested in it. */
  readonly table: S;
  readonly read: (table: TableOf<S>) => Accessed<T>;
  readonly spec: P;
}

const onRecord = <const N extends string, const T extends FieldType, const P extends FieldSpec = Record<never, never>>(name: N, type: T, read: (t: TelemetryRecord) => Accessed<T>, spec?: P) =>
  ({ name, type, table: 'record', read, spec: spec ?? ({} as P) }) as TelemetryField<N, T, 'record', P>;
const onRequest = <const N extends string, const T extends FieldType, const P extends FieldSpec = Record<never, never>>(name: N, type: T, read: (r: LicenseRequest) => Accessed<T>, spec?: P) =>
  ({ name, type, table: 'request', read, spec: spec ?? ({} as P) }) as TelemetryField<N, T, 'request', P>;
const COUNTER = { report: true, cumulative: 'counter' } as const;
const FEATURE = { report: true } as const;
const HOST = { host: true } as const;
const PROCESS = { host: true, process: true } as const;
const SESSION = { session: true } as const;
const latency = <const C extends string, const H extends Histogram>(column: C, histogram: H, boundNs: number | null) => ({ report: column, cumulative: { histogram, boundNs } }) as const;

export const TELEMETRY_FIELDS = [
  onRecord('received_time_utc', 'i64', (t) => t.receivedTimeUtc(), { report: 'received_at', timestamp: true }),
  onRecord('decision', 'decision', (t) => t.decision(), { report: true }),
  onRecord('agreement_id', 'str', (t) => t.agreementId(), { nullable: true, report: true, session: true }),
  onRecord('key_fingerprint', 'str', (t) => t.keyFingerprint(), { nonEmpty: true, session: true }),
  onRecord('ingress_instance', 'str', (t) => t.ingressInstance()),
  onRequest('request_time_utc', 'i64', (r) => r.requestTimeUtc(), { report: true }),
  onRequest('token_expiry_time_utc', 'i64', (r) => r.tokenExpiryTimeUtc()),
  onRequest('nonce', 'bytes', (r) => r.nonceArray(), { length: 16, report: true }),
  onRequest('package_name', 'str', (r) => r.packageName(), { nonEmpty: true, report: true, session: true }),
  onRequest('package_version', 'str', (r) => r.packageVersion(), SESSION),
  onRequest('package_build_number', 'u64', (r) => r.packageBuildNumber(), HOST),
  onRequest('package_build_host', 'str', (r) => r.packageBuildHost(), HOST),
  onRequest('hostname', 'str', (r) => r.hostname(), SESSION),
  onRequest('network_hostname', 'str', (r) => r.networkHostname(), HOST),
  onRequest('machine_id', 'str', (r) => r.machineId(), HOST),
  onRequest('machine', 'str', (r) => r.machine(), HOST),
  onRequest('cpuid', 'u32s', (r) => r.cpuidArray(), HOST),
  onRequest('cpu_vendor', 'str', (r) => r.cpuVendor(), HOST),
  onRequest('cpu_brand', 'str', (r) => r.cpuBrand(), HOST),
  onRequest('number_of_processors', 'u64', (r) => r.numberOfProcessors(), HOST),
  onRequest('cache_line_size', 'u64', (r) => r.cacheLineSize(), HOST),
  onRequest('page_size', 'u64', (r) => r.pageSize(), HOST),
  onRequest('kernel_name', 'str', (r) => r.kernelName(), HOST),
  onRequest('kernel_release', 'str', (r) => r.kernelRelease(), HOST),
  onRequest('kernel_version', 'str', (r) => r.kernelVersion(), HOST),
  onRequest('system_uptime', 'u64', (r) => r.systemUptime(), HOST),
  onRequest('system_total_memory', 'u64', (r) => r.systemTotalMemory(), HOST),
  onRequest('system_available_memory', 'u64', (r) => r.systemAvailableMemory(), HOST),
  onRequest('system_total_swap', 'u64', (r) => r.systemTotalSwap(), HOST),
  onRequest('system_available_swap', 'u64', (r) => r.systemAvailableSwap(), HOST),
  onRequest('process_id', 'u64', (r) => r.processId(), PROCESS),
  onRequest('process_start_time_utc', 'i64', (r) => r.processStartTimeUtc(), PROCESS),
  onRequest('process_max_rss', 'u64', (r) => r.processMaxRss(), HOST),
  onRequest('service_name', 'str', (r) => r.serviceName(), SESSION),
  onRequest('api_name', 'str', (r) => r.apiName(), SESSION),
  onRequest('api', 'str', (r) => r.api(), { report: true, session: true }),
  onRequest('instance', 'str', (r) => r.instance(), SESSION),
  // Empty (left out by the gateway): replaced by derivedSessionId.
  onRequest('session_id', 'str', (r) => r.sessionId(), { report: true, session: true }),
  onRequest('is_uat', 'bool', (r) => r.isUat(), SESSION),
  onRequest('cpu_affinity', 'u32s', (r) => r.cpuAffinityArray(), HOST),
  onRequest('symbols', 'u64', (r) => r.symbols(), { report: true, host: true }),
  onRequest('total_symbols', 'u64', (r) => r.totalSymbols(), HOST),
  onRequest('config_hash', 'bytes', (r) => r.configHashArray(), { length: 32, host: true }),
  onRequest('accounts', 'u64', (r) => r.accounts(), { report: true, host: true }),
  onRequest('users', 'u64', (r) => r.users(), { report: true, host: true }),
  onRequest('create_order', 'u64', (r) => r.createOrder(), COUNTER),
  onRequest('modify_order', 'u64', (r) => r.modifyOrder(), COUNTER),
  onRequest('cancel_order', 'u64', (r) => r.cancelOrder(), COUNTER),
  onRequest('cancel_all_orders', 'u64', (r) => r.cancelAllOrders(), COUNTER),
  onRequest('mass_quote', 'u64', (r) => r.massQuote(), COUNTER),
  onRequest('cancel_quotes', 'u64', (r) => r.cancelQuotes(), COUNTER),
  onRequest('please_report', 'bool', (r) => r.pleaseReport(), FEATURE),
  onRequest('please_report_details', 'bool', (r) => r.pleaseReportDetails(), FEATURE),
  onRequest('download_trades', 'bool', (r) => r.downloadTrades(), FEATURE),
  onRequest('download_orders', 'bool', (r) => r.downloadOrders(), FEATURE),
  onRequest('event_log', 'bool', (r) => r.eventLog(), FEATURE),
  onRequest('position_manager', 'bool', (r) => r.positionManager(), FEATURE),
  onRequest('risk_manager', 'bool', (r) => r.riskManager(), FEATURE),
  onRequest('journal', 'bool', (r) => r.journal(), FEATURE),
  onRequest('udp_publish', 'bool', (r) => r.udpPublish(), FEATURE),
  onRequest('internal_latency_sum', 'u64', (r) => r.internalLatencySum(), latency('int_sum', 'internal', null)),
  onRequest('internal_latency_count_500ns', 'u64', (r) => r.internalLatencyCount500ns(), latency('int_500ns', 'internal', 500)),
  onRequest('internal_latency_count_1us', 'u64', (r) => r.internalLatencyCount1us(), latency('int_1us', 'internal', 1_000)),
  onRequest('internal_latency_count_2us', 'u64', (r) => r.internalLatencyCount2us(), latency('int_2us', 'internal', 2_000)),
  onRequest('internal_latency_count_5us', 'u64', (r) => r.internalLatencyCount5us(), latency('int_5us', 'internal', 5_000)),
  onRequest('internal_latency_count_10us', 'u64', (r) => r.internalLatencyCount10us(), latency('int_10us', 'internal', 10_000)),
  onRequest('internal_latency_count_20us', 'u64', (r) => r.internalLatencyCount20us(), latency('int_20us', 'internal', 20_000)),
  onRequest('internal_latency_count_inf', 'u64', (r) => r.internalLatencyCountInf(), latency('int_inf', 'internal', Number.POSITIVE_INFINITY)),
  onRequest('external_latency_sum', 'u64', (r) => r.externalLatencySum(), latency('ext_sum', 'external', null)),
  onRequest('external_latency_count_10us', 'u64', (r) => r.externalLatencyCount10us(), latency('ext_10us', 'external', 10_000)),
  onRequest('external_latency_count_100us', 'u64', (r) => r.externalLatencyCount100us(), latency('ext_100us', 'external', 100_000)),
  onRequest('external_latency_count_1ms', 'u64', (r) => r.externalLatencyCount1ms(), latency('ext_1ms', 'external', 1_000_000)),
  onRequest('external_latency_count_10ms', 'u64', (r) => r.externalLatencyCount10ms(), latency('ext_10ms', 'external', 10_000_000)),
  onRequest('external_latency_count_100ms', 'u64', (r) => r.externalLatencyCount100ms(), latency('ext_100ms', 'external', 100_000_000)),
  onRequest('external_latency_count_1s', 'u64', (r) => r.externalLatencyCount1s(), latency('ext_1s', 'external', 1_000_000_000)),
  onRequest('external_latency_count_inf', 'u64', (r) => r.externalLatencyCountInf(), latency('ext_inf', 'external', Number.POSITIVE_INFINITY)),
] as const;

export type AnyTelemetryField = (typeof TELEMETRY_FIELDS)[number];
export type TelemetryFieldName = AnyTelemetryField['name'];

/** A field's value in a report. */
export type ValueOf<F extends TelemetryField> = F['spec'] extends { nullable: true } ? TypeValue<F['type']> | null : TypeValue<F['type']>;
type TypeValue<T extends FieldType> = T extends 'bool' ? boolean : T extends 'u32s' ? readonly number[] : T extends 'decision' ? TelemetryDecision : string;

/** Every field of a report under its name. */
export type TelemetryValues = { readonly [F in AnyTelemetryField as F['name']]: ValueOf<F> };

type NamesWhere<Where> = Extract<AnyTelemetryField, Where>['name'];
export type CumulativeField = NamesWhere<{ spec: { cumulative: unknown } }>;
export type FeatureField = NamesWhere<{ type: 'bool'; spec: { report: true } }>;

/** A field's spec, widened from its literal type. */
export const specOf = (field: AnyTelemetryField): FieldSpec => field.spec;
/** The metrics_report column of a field (or undefined). */
export function reportColumn(field: AnyTelemetryField): string | undefined {
  const { report } = specOf(field);
  return report === true ? field.name : report;
}

const where = <F extends AnyTelemetryField>(test: (f: AnyTelemetryField) => f is F): readonly F[] => TELEMETRY_FIELDS.filter(test);
const isCumulative = (f: AnyTelemetryField): f is Extract<AnyTelemetryField, { spec: { cumulative: unknown } }> => specOf(f).cumulative !== undefined;

/** Every cumulative value of a report, in this order (reports' `cumulative`, deltas, stored session state). */
export const CUMULATIVE_FIELDS: readonly CumulativeField[] = where(isCumulative).map((f) => f.name);
export const COUNTER_FIELDS: readonly CumulativeField[] = where(isCumulative).filter((f) => f.spec.cumulative === 'counter').map((f) => f.name);
export const FEATURE_FIELDS: readonly FeatureField[] = TELEMETRY_FIELDS.filter((f): f is Extract<AnyTelemetryField, { name: FeatureField }> => f.type === 'bool' && specOf(f).report === true).map((f) => f.name);
/** The report columns of CUMULATIVE_FIELDS (delta columns), in the same order. */
export const CUMULATIVE_COLUMNS: readonly string[] = where(isCumulative).map((f) => reportColumn(f) as string);
/** The report columns of COUNTER_FIELDS, in the same order. */
export const COUNTER_COLUMNS: readonly string[] = CUMULATIVE_COLUMNS.slice(0, COUNTER_FIELDS.length);
/** Index of the first histogram value in CUMULATIVE_FIELDS: the rest are histograms too (checked below). */
export const HISTOGRAM_START = COUNTER_FIELDS.length;
/** Report (and roll-up) columns of the latency histograms: CUMULATIVE_COLUMNS from HISTOGRAM_START on. */
export const HISTOGRAM_COLUMNS: readonly string[] = CUMULATIVE_COLUMNS.slice(HISTOGRAM_START);

export interface HistogramColumns {
  readonly sum: string;
  /** Cumulative buckets by upper bound in ns (the last one +Infinity). */
  readonly buckets: ReadonlyArray<{ readonly column: string; readonly boundNs: number }>;
}
function histogramColumns(histogram: Histogram): HistogramColumns {
  const fields = where(isCumulative).filter((f) => typeof f.spec.cumulative === 'object' && f.spec.cumulative.histogram === histogram);
  const sum = fields.find((f) => typeof f.spec.cumulative === 'object' && f.spec.cumulative.boundNs === null);
  const buckets = fields.flatMap((f) => (typeof f.spec.cumulative === 'object' && f.spec.cumulative.boundNs !== null ? [{ column: reportColumn(f) as string, boundNs: f.spec.cumulative.boundNs }] : []));
  return { sum: reportColumn(sum as AnyTelemetryField) as string, buckets };
}
export const HISTOGRAMS: Readonly<Record<Histogram, HistogramColumns>> = { internal: histogramColumns('internal'), external: histogramColumns('external') };
/** Upper bounds of the buckets in nanoseconds (the last one is +Inf). */
export const INTERNAL_BOUNDS_NS: readonly number[] = HISTOGRAMS.internal.buckets.map((b) => b.boundNs);
export const EXTERNAL_BOUNDS_NS: readonly number[] = HISTOGRAMS.external.buckets.map((b) => b.boundNs);

/** The SQL type a field is stored as, in metrics_report and metrics_session columns. */
export function sqlType(field: AnyTelemetryField): 'timestamptz' | 'bigint' | 'boolean' | 'text' | 'jsonb' {
  if (specOf(field).timestamp) return 'timestamptz';
  switch (field.type) {
    case 'i64':
    case 'u64':
      return 'bigint';
    case 'bool':
      return 'boolean';
    case 'str':
    case 'bytes':
    case 'decision':
      return 'text';
    case 'u32s':
      return 'jsonb';
    default: {
      const unknown: never = field;
      throw new Error(`no SQL type for ${JSON.stringify(unknown)}`);
    }
  }
}

/** Fields stored as they are with every report (metrics_report's value columns; a report's `row`), in this order. */
export const ROW_FIELDS: readonly AnyTelemetryField[] = TELEMETRY_FIELDS.filter((f) => reportColumn(f) !== undefined && specOf(f).cumulative === undefined);
/** A session's facts: its metrics_session columns, and the keys of its `host` column. */
export const SESSION_FIELDS: readonly AnyTelemetryField[] = TELEMETRY_FIELDS.filter((f) => specOf(f).session);
export const HOST_FIELDS: readonly AnyTelemetryField[] = TELEMETRY_FIELDS.filter((f) => specOf(f).host);
/** What identifies the gateway process, read for every report (its deltas). */
export const PROCESS_FIELDS: readonly AnyTelemetryField[] = TELEMETRY_FIELDS.filter((f) => specOf(f).process);

/** The decisions by their schema value (Decision in telemetry.fbs). */
export const TELEMETRY_DECISIONS: readonly TelemetryDecision[] = Object.keys(Decision).filter((key): key is TelemetryDecision => Number.isNaN(Number(key)));

if (HISTOGRAM_COLUMNS.length !== where(isCumulative).filter((f) => f.spec.cumulative !== 'counter').length || CUMULATIVE_FIELDS.slice(0, HISTOGRAM_START).some((f) => !COUNTER_FIELDS.includes(f))) {
  throw new Error('telemetry fields: the counters must come before every histogram value');
}
