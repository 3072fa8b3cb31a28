import { parseTelemetryV2, parseTelemetryV2Lazy, TELEMETRY_V2_MARKER } from './telemetry-binary';
import { type ParseResult, parseTelemetryV1 } from './telemetry-record';

/**
 * Parses one Kafka message value of either version, told apart by its first byte: 0x00 is a v2
 * (binary) record; anything else is read as v1 JSON (which starts with `{` or whitespace). Never throws.
 */
export function parseTelemetry(value: Buffer | string): ParseResult {
  if (typeof value !== 'string' && value.length > 0 && value[0] === TELEMETRY_V2_MARKER) return parseTelemetryV2(value);
  return parseTelemetryV1(value);
}

/**
 * parseTelemetry for the sink: the same validation, but a v2 report decodes its rarely read fields
 * on access and refers to `value` (see parseTelemetryV2Lazy): keep it no longer than its batch.
 */
export function parseTelemetryLazy(value: Buffer | string): ParseResult {
  if (typeof value !== 'string' && value.length > 0 && value[0] === TELEMETRY_V2_MARKER) return parseTelemetryV2Lazy(value);
  return parseTelemetryV1(value);
}
