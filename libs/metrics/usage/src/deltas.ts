import { CUMULATIVE_FIELDS, type CumulativeField, type TelemetryReport } from './telemetry-record';

/** A session's cumulative values as of its latest stored report, plus what identifies its process. */
export interface SessionState {
  readonly processId: bigint;
  readonly processStartTimeUtc: bigint;
  readonly values: Readonly<Record<CumulativeField, bigint>>;
}

export interface ReportDelta {
  /** True when the report starts a new count: first report of the session, or a restart. */
  readonly restart: boolean;
  readonly deltas: Record<CumulativeField, bigint>;
  readonly state: SessionState;
}

export function stateOf(report: TelemetryReport): SessionState {
  const values = {} as Record<CumulativeField, bigint>;
  for (const field of CUMULATIVE_FIELDS) values[field] = report[field];
  return { processId: report.process_id, processStartTimeUtc: report.process_start_time_utc, values };
}

/**
 * The report's counters and histogram buckets as deltas since the session's previous report.
 * Everything counts from process start, so a first report is its own delta; a different process
 * (id or start time) or any cumulative value that went down is a restart: the report's values are
 * the delta (what the new process counted), never a negative difference.
 */
export function reportDelta(previous: SessionState | undefined, report: TelemetryReport): ReportDelta {
  const state = stateOf(report);
  let restart =
    previous === undefined || previous.processId !== state.processId || previous.processStartTimeUtc !== state.processStartTimeUtc;
  if (!restart && previous) {
    for (const field of CUMULATIVE_FIELDS) {
      if (state.values[field] < previous.values[field]) {
        restart = true;
        break;
      }
    }
  }
  const deltas = {} as Record<CumulativeField, bigint>;
  for (const field of CUMULATIVE_FIELDS) {
    deltas[field] = restart || !previous ? state.values[field] : state.values[field] - previous.values[field];
  }
  return { restart, deltas, state };
}

/**
 * SessionState as a flat list of decimal strings, for a bigint[] column: the cumulative values in
 * CUMULATIVE_FIELDS order, then process id and process start time.
 */
export function stateToArray(state: SessionState): string[] {
  return [...CUMULATIVE_FIELDS.map((field) => state.values[field].toString()), state.processId.toString(), state.processStartTimeUtc.toString()];
}

export function stateFromArray(array: unknown): SessionState | undefined {
  if (!Array.isArray(array) || array.length !== CUMULATIVE_FIELDS.length + 2) return undefined;
  const items: bigint[] = [];
  for (const item of array as unknown[]) {
    if (typeof item === 'bigint') items.push(item);
    else if ((typeof item === 'string' && /^-?[0-9]+$/.test(item)) || (typeof item === 'number' && Number.isSafeInteger(item))) items.push(BigInt(item));
    else return undefined;
  }
  const values = {} as Record<CumulativeField, bigint>;
  CUMULATIVE_FIELDS.forEach((field, i) => (values[field] = items[i] as bigint));
  return { processId: items[CUMULATIVE_FIELDS.length] as bigint, processStartTimeUtc: items[CUMULATIVE_FIELDS.length + 1] as bigint, values };
}
