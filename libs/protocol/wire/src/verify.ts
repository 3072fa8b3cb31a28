import { WireFormatError } from './errors';

/**
 * Kinds of the fields our tables use. `bytes` is [ubyte], `u32s` is [uint32].
 */
export type FieldKind = 'i64' | 'u64' | 'bool' | 'str' | 'bytes' | 'u32s';

const inlineSize: Record<FieldKind, number> = { i64: 8, u64: 8, bool: 1, str: 4, bytes: 4, u32s: 4 };

/**
 * Structural check of a FlatBuffers table against its field kinds, before any generated accessor
 * reads it. The JavaScript flatbuffers runtime has no verifier and reads out of bounds silently,
 * while the server decodes bytes from anyone who can make a key pair: every offset, vector and
 * string must lie inside the buffer, and required fields must be present. Nothing may follow the
 * message but the alignment padding a FlatBuffers builder writes: appended bytes would make one
 * message readable from many different bodies.
 */
export function verifyTable(table: string, bytes: Uint8Array, fields: ReadonlyArray<readonly [string, FieldKind]>, required: readonly string[]): void {
  const fail = (why: string): never => {
    throw new WireFormatError(`not a valid ${table}: ${why}`);
  };
  const length = bytes.byteLength;
  const view = new DataView(bytes.buffer, bytes.byteOffset, length);
  const u32 = (at: number, what: string): number => {
    if (at < 0 || at + 4 > length) fail(`${what} at ${at} is outside the ${length}-byte buffer`);
    return view.getUint32(at, true);
  };
  if (length < 8) fail(`${length} bytes is too short`);
  const tablePos = u32(0, 'root offset');
  if (tablePos + 4 > length) fail('root offset is outside the buffer');
  const vtablePos = tablePos - view.getInt32(tablePos, true);
  if (vtablePos < 0 || vtablePos + 4 > length || vtablePos % 2 !== 0) fail('vtable is outside the buffer');
  const vtableSize = view.getUint16(vtablePos, true);
  const tableSize = view.getUint16(vtablePos + 2, true);
  if (vtableSize < 4 || vtableSize % 2 !== 0 || vtablePos + vtableSize > length) fail('vtable size is invalid');
  if (tableSize < 4 || tablePos + tableSize > length) fail('table size is invalid');
  // The furthest byte the message uses: the root offset, vtable, table and everything they point to.
  let end = Math.max(4, vtablePos + vtableSize, tablePos + tableSize);

  fields.forEach(([name, kind], slot) => {
    const entry = 4 + 2 * slot;
    const fieldOffset = entry + 2 <= vtableSize ? view.getUint16(vtablePos + entry, true) : 0;
    if (fieldOffset === 0) {
      if (required.includes(name)) fail(`required field ${name} is missing`);
      return;
    }
    if (fieldOffset < 4 || fieldOffset + inlineSize[kind] > tableSize) fail(`field ${name} lies outside its table`);
    const fieldPos = tablePos + fieldOffset;
    switch (kind) {
      case 'i64':
      case 'u64':
      case 'bool':
        return;
      case 'str':
      case 'bytes':
      case 'u32s': {
        const target = fieldPos + u32(fieldPos, `offset of ${name}`);
        const count = u32(target, `length of ${name}`);
        // Strings carry a terminating zero byte after their contents.
        const fieldEnd = target + 4 + count * (kind === 'u32s' ? 4 : 1) + (kind === 'str' ? 1 : 0);
        if (fieldEnd > length) fail(`${name} (${count} elements) runs past the end of the buffer`);
        end = Math.max(end, fieldEnd);
        return;
      }
      default: {
        const unknown: never = kind;
        fail(`unknown field kind ${String(unknown)}`);
      }
    }
  });
  // Builders write the buffer back to front, starting with a string or vector whose end they pad
  // with zeros to a multiple of 4 bytes: that padding may follow the last object, nothing else. A
  // field added to the schema later (fields are only ever appended) may own the bytes at the end:
  // then they cannot be told from trailing ones, and are accepted.
  let unknownFields = false;
  for (let entry = 4 + 2 * fields.length; entry + 2 <= vtableSize; entry += 2) if (view.getUint16(vtablePos + entry, true) !== 0) unknownFields = true;
  const trailing = length - end;
  const padding = (4 - (end % 4)) % 4;
  if (!unknownFields && trailing > 0 && (trailing !== padding || bytes.subarray(end).some((byte) => byte !== 0))) {
    fail(`${trailing} byte${trailing === 1 ? '' : 's'} follow${trailing === 1 ? 's' : ''} the end of the message`);
  }
}
