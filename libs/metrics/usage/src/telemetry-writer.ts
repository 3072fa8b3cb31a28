import { Builder } from 'flatbuffers';
import { LicenseRequest } from './generated/license_generated';
import { Decision, TelemetryRecord } from './generated/telemetry_generated';
import { type AnyTelemetryField, type FieldType, TELEMETRY_FIELDS, type TelemetryDecision } from './telemetry-fields';
import { REQUEST_VTABLE_OFFSET, SLOTS } from './telemetry-layout';

/** What each type is written from (64-bit integers: a safe integer, or a bigint for any value). */
type InputType<T extends FieldType> = T extends 'i64' | 'u64'
  ? bigint | number
  : T extends 'bool'
    ? boolean
    : T extends 'decision'
      ? TelemetryDecision
      : T extends 'bytes'
        ? Uint8Array
        : T extends 'u32s'
          ? readonly number[]
          : string;
type InputOf<F extends AnyTelemetryField> = F['spec'] extends { nullable: true } ? InputType<F['type']> | null : InputType<F['type']>;

/** Every field's value to write, by name. */
export type TelemetryInput = { readonly [F in AnyTelemetryField as F['name']]: InputOf<F> };
/** What the ingress adds to the request it decoded: the record table's own fields. */
export type TelemetryContext = Pick<TelemetryInput, Extract<AnyTelemetryField, { table: 'record' }>['name']>;

type Field = (typeof TELEMETRY_FIELDS)[number];
const RECORD_FIELDS = TELEMETRY_FIELDS.map((field, i) => ({ field, slot: SLOTS[i] as number })).filter((f) => f.field.table === 'record');
const REQUEST_FIELDS = TELEMETRY_FIELDS.map((field, i) => ({ field, slot: SLOTS[i] as number })).filter((f) => f.field.table === 'request');
const REQUEST_SLOT = (REQUEST_VTABLE_OFFSET - 4) / 2;
const ZERO = BigInt(0);
const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;
const TWO_32 = 4294967296;

/** A 64-bit field; 0 (its default) is left out. A safe integer goes in as two words, without BigInt. */
function addInt64(builder: Builder, slot: number, value: bigint | number): void {
  if (typeof value === 'bigint') {
    builder.addFieldInt64(slot, value, ZERO);
    return;
  }
  if (value === 0) return;
  const hi = Math.floor(value / TWO_32);
  builder.prep(8, 0);
  // Back to front: the high word first.
  builder.writeInt32(hi | 0);
  builder.writeInt32((value - hi * TWO_32) | 0);
  builder.slot(slot);
}

type Input = Readonly<Record<string, unknown>>;

/** Strings and vectors go before their table: their offsets, per field (0 for none). */
function createOffsets(builder: Builder, fields: ReadonlyArray<{ readonly field: Field }>, input: Input): number[] {
  return fields.map(({ field }) => {
    const value = input[field.name];
    switch (field.type) {
      case 'str':
        // Written even when empty: absent means null, and a required one stays present.
        // Through Buffer: the builder's TextEncoder costs more than the rest of a record.
        return value === null ? 0 : builder.createString(Buffer.from(value as string, 'utf8'));
      case 'bytes':
        return builder.createByteVector(value as Uint8Array);
      case 'u32s': {
        const values = value as readonly number[];
        builder.startVector(4, values.length, 4);
        for (let i = values.length - 1; i >= 0; i--) builder.addInt32(values[i] as number);
        return builder.endVector();
      }
      default:
        return 0;
    }
  });
}

function addFields(builder: Builder, fields: ReadonlyArray<{ readonly field: Field; readonly slot: number }>, input: Input, offsets: readonly number[]): void {
  fields.forEach(({ field, slot }, i) => {
    const value = input[field.name];
    switch (field.type) {
      case 'i64':
      case 'u64': {
        const n = value as bigint | number;
        const fits = typeof n === 'number' ? Number.isSafeInteger(n) && (field.type === 'i64' || n >= 0) : n >= (field.type === 'i64' ? INT64_MIN : ZERO) && n <= (field.type === 'i64' ? -INT64_MIN - 1n : UINT64_MAX);
        if (!fits) throw new RangeError(`${field.name} = ${n} does not fit in ${field.type}`);
        addInt64(builder, slot, n);
        return;
      }
      case 'bool':
        builder.addFieldInt8(slot, value ? 1 : 0, 0);
        return;
      case 'decision':
        builder.addFieldInt8(slot, Decision[value as TelemetryDecision], 0);
        return;
      default:
        if (offsets[i] !== 0) builder.addFieldOffset(slot, offsets[i] as number, 0);
    }
  });
}

const recordBuilder = new Builder(2048);

/**
 * The record for one accepted request: `request` is the LicenseRequest FlatBuffer as the ingress
 * re-encoded it (nested unchanged), `context` the record's own fields.
 */
export function encodeTelemetry(context: TelemetryContext, request: Uint8Array): Buffer {
  // One builder, cleared for each record (the result is copied out): allocating its buffer was most of the cost.
  const builder = recordBuilder;
  builder.clear();
  // Aligned for its widest scalar, as a nested FlatBuffer should be for readers that check alignment.
  builder.prep(8, request.byteLength);
  const requestVector = builder.createByteVector(request);
  const offsets = createOffsets(builder, RECORD_FIELDS, context);
  TelemetryRecord.startTelemetryRecord(builder);
  addFields(builder, RECORD_FIELDS, context, offsets);
  builder.addFieldOffset(REQUEST_SLOT, requestVector, 0);
  TelemetryRecord.finishTelemetryRecordBuffer(builder, TelemetryRecord.endTelemetryRecord(builder));
  return Buffer.from(builder.asUint8Array());
}

const requestBuilder = new Builder(2048);

/** The LicenseRequest FlatBuffer of the request fields of `input`: a view, valid until the next call. */
export function encodeRequest(input: TelemetryInput): Uint8Array {
  const builder = requestBuilder;
  builder.clear();
  const offsets = createOffsets(builder, REQUEST_FIELDS, input);
  LicenseRequest.startLicenseRequest(builder);
  addFields(builder, REQUEST_FIELDS, input, offsets);
  builder.finish(LicenseRequest.endLicenseRequest(builder));
  return builder.asUint8Array();
}

/** The record of every field's value (tests, benchmarks and the legacy formats' translation). Throws RangeError on a 64-bit value out of range. */
export function encodeTelemetryInput(input: TelemetryInput): Buffer {
  return encodeTelemetry(input, encodeRequest(input));
}
