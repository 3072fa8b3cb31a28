import { ByteBuffer } from 'flatbuffers';
import { LicenseRequest } from './generated/license_generated';
import { TelemetryRecord } from './generated/telemetry_generated';
import { type AnyTelemetryField, TELEMETRY_FIELDS } from './telemetry-fields';

/**
 * Where each field lives, learnt from the generated code itself: a field's accessor is called once
 * on a probe whose vtable lookup notes the slot asked for (and reports the field absent). The reader
 * and the writer then use the slots directly (the generated accessors read every 64-bit integer
 * through BigInt, which costs more than the rest of a report's parsing).
 */
class SlotProbe extends ByteBuffer {
  vtableOffset = -1;

  constructor() {
    super(new Uint8Array(0));
  }

  override __offset(_tablePosition: number, vtableOffset: number): number {
    this.vtableOffset = vtableOffset;
    return 0;
  }
}

export function vtableOffsetOf(field: AnyTelemetryField): number {
  const probe = new SlotProbe();
  if (field.table === 'record') field.read(new TelemetryRecord().__init(0, probe));
  else field.read(new LicenseRequest().__init(0, probe));
  if (probe.vtableOffset < 4 || probe.vtableOffset % 2 !== 0) throw new Error(`telemetry field ${field.name}: its accessor reads no table field`);
  return probe.vtableOffset;
}

/** Per TELEMETRY_FIELDS entry: its vtable offset (4 + 2 × slot) in its table. */
export const VTABLE_OFFSETS: readonly number[] = TELEMETRY_FIELDS.map(vtableOffsetOf);
/** Per TELEMETRY_FIELDS entry: its slot in its table (the field id flatc numbers in schema order). */
export const SLOTS: readonly number[] = VTABLE_OFFSETS.map((offset) => (offset - 4) / 2);

/** Bytes a field takes inside its table: scalars themselves, everything else a 32-bit offset. */
export const INLINE_SIZE = { i64: 8, u64: 8, bool: 1, decision: 1, str: 4, bytes: 4, u32s: 4 } as const;

/** The vtable offset of the record's nested LicenseRequest, from its accessor too. */
export const REQUEST_VTABLE_OFFSET = ((): number => {
  const probe = new SlotProbe();
  new TelemetryRecord().__init(0, probe).requestArray();
  return probe.vtableOffset;
})();

/** Overrides the identifier check to note the identifier the generated code asks for. */
class IdentifierProbe extends ByteBuffer {
  identifier = '';

  constructor() {
    super(new Uint8Array(8));
  }

  override __has_identifier(identifier: string): boolean {
    this.identifier = identifier;
    return true;
  }
}

/** The record's FlatBuffers file identifier (telemetry.fbs), as the generated code checks it. */
export const FILE_IDENTIFIER = ((): string => {
  const probe = new IdentifierProbe();
  TelemetryRecord.bufferHasIdentifier(probe);
  return probe.identifier;
})();
