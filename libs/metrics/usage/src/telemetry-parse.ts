import { translateLegacyTelemetry } from './legacy/legacy-telemetry';
import { isCurrentTelemetry, parseCurrentTelemetry, type ParseResult } from './telemetry-reader';

/**
 * Parses one Kafka message value: a version 3 record (its FlatBuffers file identifier), or one of the
 * older formats still on the topic until 2026-12-08 (legacy/). Never throws. The report refers to
 * `value` (see TelemetryReport): keep it no longer than its batch.
 */
export function parseTelemetry(value: Buffer | string): ParseResult {
  try {
    if (typeof value !== 'string' && isCurrentTelemetry(value)) return parseCurrentTelemetry(value);
    const legacy = translateLegacyTelemetry(value);
    return legacy.ok ? parseCurrentTelemetry(legacy.record, legacy.version) : legacy;
  } catch (error) {
    // Validation leaves nothing to throw; should a bug, the record is refused, not the batch.
    return { ok: false, error: `unreadable record: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** The sink's name for parseTelemetry (every report is read lazily now). */
export const parseTelemetryLazy = parseTelemetry;
