import { CUMULATIVE_FIELDS } from './telemetry-fields';
import type { TelemetryReport } from './telemetry-reader';

const COUNT = CUMULATIVE_FIELDS.length;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const MAX_SAFE_BIG = BigInt(MAX_SAFE);

/**
 * A session's cumulative values as of its latest stored report (CUMULATIVE_FIELDS order), plus what
 * identifies its process (canonical decimal strings, so equal strings are equal numbers). `values`
 * is exact when `big` is undefined (every value below 2^53); otherwise `big` is.
 */
export interface SessionState {
  readonly processId: string;
  readonly processStartTimeUtc: string;
  readonly values: readonly number[];
  readonly big: readonly bigint[] | undefined;
}

export interface ReportDelta {
  /** True when the report starts a new count: first report of the session, or a restart. */
  readonly restart: boolean;
  /** Per CUMULATIVE_FIELDS entry; exact when `deltasBig` is undefined (the usual case). */
  readonly deltas: readonly number[];
  /** The deltas exactly, only when one is 2^53 or more. */
  readonly deltasBig: readonly bigint[] | undefined;
  readonly state: SessionState;
}

/** The report's own arrays, not copies: reports are never changed after parsing. */
export function stateOf(report: TelemetryReport): SessionState {
  return { processId: report.process_id, processStartTimeUtc: report.process_start_time_utc, values: report.cumulative, big: report.cumulativeBig };
}

/**
 * The report's counters and histogram buckets as deltas since the session's previous report.
 * Everything counts from process start, so a first report is its own delta; a different process
 * (id or start time) or any cumulative value that went down is a restart: the report's values are
 * the delta (what the new process counted), never a negative difference.
 *
 * In doubles when both states are exact (all values integers in [0, 2^53)): comparisons are then exact,
 * and a difference of two such values with current >= previous lies in [0, 2^53), so it is exact too.
 * Otherwise in bigint.
 */
export function reportDelta(previous: SessionState | undefined, report: TelemetryReport): ReportDelta {
  const state = stateOf(report);
  if (previous === undefined || previous.processId !== state.processId || previous.processStartTimeUtc !== state.processStartTimeUtc) {
    return { restart: true, deltas: state.values, deltasBig: state.big, state };
  }
  if (previous.big !== undefined || state.big !== undefined) return bigDelta(previous, state);
  const current = state.values;
  const before = previous.values;
  for (let i = 0; i < COUNT; i++) {
    if ((current[i] as number) < (before[i] as number)) return { restart: true, deltas: current, deltasBig: undefined, state };
  }
  const deltas = new Array<number>(COUNT);
  for (let i = 0; i < COUNT; i++) deltas[i] = (current[i] as number) - (before[i] as number);
  return { restart: false, deltas, deltasBig: undefined, state };
}

const exact = (s: SessionState): readonly bigint[] => s.big ?? s.values.map((v) => BigInt(v));

function bigDelta(previous: SessionState, state: SessionState): ReportDelta {
  const current = exact(state);
  const before = exact(previous);
  let restart = false;
  for (let i = 0; i < COUNT; i++) {
    if ((current[i] as bigint) < (before[i] as bigint)) {
      restart = true;
      break;
    }
  }
  const deltasBig = restart ? current : current.map((v, i) => v - (before[i] as bigint));
  // Back to doubles when every delta is small enough to be exact in one.
  const small = deltasBig.every((d) => d <= MAX_SAFE_BIG);
  return { restart, deltas: deltasBig.map((d) => Number(d)), deltasBig: small ? undefined : deltasBig, state };
}

/** Delta `index` as a decimal string. */
export function deltaText(delta: ReportDelta, index: number): string {
  return delta.deltasBig ? (delta.deltasBig[index] as bigint).toString() : String(delta.deltas[index]);
}

/**
 * Exact running sums of deltas (latency roll-ups): doubles while a sum stays below 2^53, with the
 * excess carried in bigint. An exact sum above 2^53-1 rounds to a double of at least 2^53, so the
 * test before accepting a double sum never lets a rounded one through.
 */
export class DeltaSums {
  private readonly small: number[];
  private big: bigint[] | undefined;

  constructor(readonly size: number) {
    this.small = new Array<number>(size).fill(0);
  }

  add(index: number, value: number): void {
    const sum = (this.small[index] as number) + value;
    if (sum <= MAX_SAFE) this.small[index] = sum;
    else this.addBig(index, BigInt(value));
  }

  addBig(index: number, value: bigint): void {
    this.big ??= new Array<bigint>(this.size).fill(0n);
    this.big[index] = (this.big[index] as bigint) + BigInt(this.small[index] as number) + value;
    this.small[index] = 0;
  }

  /** Adds the delta's values from `from` on (size of them) at 0.. */
  addDelta(delta: ReportDelta, from: number): void {
    if (delta.deltasBig) for (let i = 0; i < this.size; i++) this.addBig(i, delta.deltasBig[from + i] as bigint);
    else for (let i = 0; i < this.size; i++) this.add(i, delta.deltas[from + i] as number);
  }

  merge(other: DeltaSums): void {
    for (let i = 0; i < this.size; i++) {
      if (other.big) this.addBig(i, (other.big[i] as bigint) + BigInt(other.small[i] as number));
      else this.add(i, other.small[i] as number);
    }
  }

  text(index: number): string {
    return this.big ? ((this.big[index] as bigint) + BigInt(this.small[index] as number)).toString() : String(this.small[index]);
  }
}

/**
 * SessionState as a flat list of decimal strings, for a bigint[] column: the cumulative values in
 * CUMULATIVE_FIELDS order, then process id and process start time.
 */
export function stateToArray(state: SessionState): string[] {
  const out: string[] = state.big ? state.big.map((v) => v.toString()) : state.values.map((v) => String(v));
  out.push(state.processId, state.processStartTimeUtc);
  return out;
}

const INTEGER = /^-?(0|[1-9][0-9]*)$/;

export function stateFromArray(array: unknown): SessionState | undefined {
  if (!Array.isArray(array) || array.length !== COUNT + 2) return undefined;
  const texts: string[] = [];
  for (const item of array as unknown[]) {
    if (typeof item === 'bigint') texts.push(item.toString());
    else if (typeof item === 'string' && INTEGER.test(item)) texts.push(item);
    else if (typeof item === 'number' && Number.isSafeInteger(item)) texts.push(String(item));
    else return undefined;
  }
  const values: number[] = [];
  let wide = false;
  for (let i = 0; i < COUNT; i++) {
    const text = texts[i] as string;
    const n = Number(text);
    // Shorter than 16 characters (sign included) is within ±10^15: exact. Else check exactly.
    if (text.length > 15 && (BigInt(text) > MAX_SAFE_BIG || BigInt(text) < -MAX_SAFE_BIG)) wide = true;
    values.push(n);
  }
  return {
    processId: texts[COUNT] as string,
    processStartTimeUtc: texts[COUNT + 1] as string,
    values,
    big: wide ? texts.slice(0, COUNT).map((t) => BigInt(t)) : undefined,
  };
}
