import { gzipSync } from 'node:zlib';
import { LeanReadUnsupportedError } from './protocol';
import { decodeCommitted, offsetAfterWholeBatches, VarintCursor } from './record-batch';

// Batches built by hand from the protocol guide's layout, so the decoder is checked against the
// format itself, not against a client's encoder.

function zigzagVarint(value: number): number[] {
  let raw = value >= 0 ? value * 2 : -value * 2 - 1;
  const bytes: number[] = [];
  while (raw >= 0x80) {
    bytes.push((raw % 0x80) | 0x80);
    raw = Math.floor(raw / 0x80);
  }
  bytes.push(raw);
  return bytes;
}

function sized(bytes: Buffer | null): number[] {
  return bytes === null ? zigzagVarint(-1) : [...zigzagVarint(bytes.length), ...bytes];
}

interface TestRecord {
  readonly offsetDelta: number;
  readonly timestampDelta?: number;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers?: ReadonlyArray<readonly [string, string | null]>;
}

function record(r: TestRecord): number[] {
  const headers = r.headers ?? [];
  const body = [
    0, // attributes
    ...zigzagVarint(r.timestampDelta ?? 0),
    ...zigzagVarint(r.offsetDelta),
    ...sized(r.key === null ? null : Buffer.from(r.key)),
    ...sized(r.value === null ? null : Buffer.from(r.value)),
    ...zigzagVarint(headers.length),
    ...headers.flatMap(([name, value]) => [...sized(Buffer.from(name)), ...sized(value === null ? null : Buffer.from(value))]),
  ];
  return [...zigzagVarint(body.length), ...body];
}

interface TestBatch {
  readonly baseOffset: number;
  readonly records: readonly TestRecord[];
  readonly producerId?: number;
  readonly transactional?: boolean;
  readonly control?: boolean;
  readonly logAppendTime?: boolean;
  readonly codec?: number;
  readonly magic?: number;
  readonly baseTimestamp?: number;
  readonly maxTimestamp?: number;
}

function batch(b: TestBatch): Buffer {
  let records = Buffer.from(b.records.flatMap(record));
  if (b.codec === 1) records = gzipSync(records);
  const attributes = (b.codec ?? 0) | (b.logAppendTime ? 0x08 : 0) | (b.transactional ? 0x10 : 0) | (b.control ? 0x20 : 0);
  const header = Buffer.alloc(61);
  header.writeBigInt64BE(BigInt(b.baseOffset), 0);
  header.writeInt32BE(61 - 12 + records.length, 8);
  header.writeInt32BE(0, 12); // partition leader epoch
  header.writeInt8(b.magic ?? 2, 16);
  header.writeUInt32BE(0, 17); // crc: not checked
  header.writeInt16BE(attributes, 21);
  header.writeInt32BE(Math.max(0, ...b.records.map((r) => r.offsetDelta)), 23);
  header.writeBigInt64BE(BigInt(b.baseTimestamp ?? 1_000), 27);
  header.writeBigInt64BE(BigInt(b.maxTimestamp ?? 2_000), 35);
  header.writeBigInt64BE(BigInt(b.producerId ?? -1), 43);
  header.writeInt16BE(0, 51); // producer epoch
  header.writeInt32BE(0, 53); // base sequence
  header.writeInt32BE(b.records.length, 57);
  return Buffer.concat([header, records]);
}

/** A transaction marker: key {version 0, type 0 abort / 1 commit}. */
function marker(baseOffset: number, producerId: number, type: 'abort' | 'commit'): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt16BE(type === 'abort' ? 0 : 1, 2);
  const value = Buffer.alloc(6); // version, coordinator epoch: not read
  const body = [0, 0, 0, ...sized(key), ...sized(value), 0];
  const records = Buffer.from([...zigzagVarint(body.length), ...body]);
  const header = batch({ baseOffset, producerId, transactional: true, control: true, records: [] }).subarray(0, 61);
  header.writeInt32BE(61 - 12 + records.length, 8);
  header.writeInt32BE(1, 57);
  return Buffer.concat([header, records]);
}

const slice = (from = 0, end = 1_000) => ({ topic: 't', partition: 3, from, end });
const read = (records: Buffer, from?: number, end?: number, aborted: Array<{ producerId: number; firstOffset: number }> = []) =>
  decodeCommitted(records, aborted, slice(from, end)).map((m) => [m.offset, m.key, m.value.toString()]);

describe('varints', () => {
  it.each([
    [[0x00], 0],
    [[0x01], -1],
    [[0x02], 1],
    [[0x7e], 63],
    [[0x7f], -64],
    [[0x80, 0x01], 64],
    [[0xd8, 0x04], 300],
    [[0xfe, 0xff, 0xff, 0xff, 0x0f], 2147483647],
    [[0xff, 0xff, 0xff, 0xff, 0x0f], -2147483648],
  ])('varint %j is %d', (bytes, value) => {
    const cursor = new VarintCursor(Buffer.from(bytes), 0);
    expect(cursor.varint()).toBe(value);
    expect(cursor.at).toBe(bytes.length);
  });

  it.each([0, -1, 1_700_000_000_000, -1_700_000_000_000, 2 ** 52])('varlong round-trips %d', (value) => {
    const bytes = zigzagVarint(value);
    const cursor = new VarintCursor(Buffer.from(bytes), 0);
    expect(cursor.varlong()).toBe(value);
    expect(cursor.at).toBe(bytes.length);
  });

  it('refuses a varint that never ends', () => {
    expect(() => new VarintCursor(Buffer.from([0x80, 0x80]), 0).varint()).toThrow('inside a varint');
    expect(() => new VarintCursor(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), 0).varint()).toThrow('longer than 5 bytes');
  });
});

describe('decodeCommitted', () => {
  const plain = batch({
    baseOffset: 40,
    baseTimestamp: 1_000,
    records: [
      { offsetDelta: 0, timestampDelta: 5, key: 'agreement-1', value: 'first', headers: [['type', 'a'], ['type', 'b'], ['trace', null], ['ü', 'é']] },
      { offsetDelta: 1, timestampDelta: 7, key: null, value: null },
      { offsetDelta: 2, key: '', value: 'third' },
    ],
  });

  it('reads keys, values, headers, offsets and create times', () => {
    const messages = decodeCommitted(plain, [], slice());
    expect(messages.map((m) => ({ ...m, value: m.value.toString() }))).toEqual([
      { topic: 't', partition: 3, offset: '40', timestampMs: 1_005, key: 'agreement-1', value: 'first', headers: { type: 'a', ü: 'é' } },
      { topic: 't', partition: 3, offset: '41', timestampMs: 1_007, key: null, value: '', headers: {} },
      { topic: 't', partition: 3, offset: '42', timestampMs: 1_000, key: '', value: 'third', headers: {} },
    ]);
  });

  it('hands values over as views of the fetched bytes, not copies', () => {
    const [first] = decodeCommitted(plain, [], slice());
    expect(first?.value.buffer).toBe(plain.buffer);
  });

  it('gives every record of a log-append-time batch the batch time', () => {
    const stamped = batch({ baseOffset: 0, logAppendTime: true, maxTimestamp: 9_999, records: [{ offsetDelta: 0, timestampDelta: 3, key: 'k', value: 'v' }] });
    expect(decodeCommitted(stamped, [], slice())[0]?.timestampMs).toBe(9_999);
  });

  it('drops records before `from` (a read starting mid-batch) and from `end` on', () => {
    expect(read(plain, 41, 1_000)).toEqual([['41', null, ''], ['42', '', 'third']]);
    expect(read(plain, 0, 42)).toEqual([['40', 'agreement-1', 'first'], ['41', null, '']]);
    expect(read(Buffer.concat([plain, batch({ baseOffset: 43, records: [{ offsetDelta: 0, key: 'k', value: 'late' }] })]), 0, 43)).toHaveLength(3);
  });

  it('ignores a batch cut short at the end of the answer, and the fetch goes on from it', () => {
    const next = batch({ baseOffset: 43, records: [{ offsetDelta: 0, key: 'k', value: 'next' }] });
    const answer = Buffer.concat([plain, next.subarray(0, next.length - 3)]);
    expect(read(answer)).toHaveLength(3);
    expect(offsetAfterWholeBatches(answer, 40)).toBe(43);
    expect(offsetAfterWholeBatches(Buffer.concat([plain, next]), 40)).toBe(44);
    expect(offsetAfterWholeBatches(next.subarray(0, 30), 43)).toBe(43);
    expect(read(plain.subarray(0, 20))).toEqual([]);
  });

  it('reads gzip batches', () => {
    const zipped = batch({ baseOffset: 7, codec: 1, records: [{ offsetDelta: 0, key: 'a', value: 'x'.repeat(500) }, { offsetDelta: 1, key: 'b', value: 'y' }] });
    expect(read(zipped).map(([offset, key, value]) => [offset, key, value?.length])).toEqual([['7', 'a', 500], ['8', 'b', 1]]);
  });

  it.each([[2, 'snappy'], [3, 'lz4'], [4, 'zstd']])('refuses codec %d (%s) so that another reader takes over', (codec, name) => {
    const compressed = batch({ baseOffset: 0, codec, records: [{ offsetDelta: 0, key: 'a', value: 'b' }] });
    expect(() => read(compressed)).toThrow(LeanReadUnsupportedError);
    expect(() => read(compressed)).toThrow(name);
  });

  it('refuses message formats before magic 2', () => {
    expect(() => read(batch({ baseOffset: 0, magic: 1, records: [] }))).toThrow(LeanReadUnsupportedError);
  });

  it('drops control batches and the batches of transactions listed as aborted, up to their abort marker', () => {
    const v = (offsetDelta: number, value: string): TestRecord => ({ offsetDelta, key: 'k', value });
    const log = Buffer.concat([
      batch({ baseOffset: 10, producerId: 7, transactional: true, records: [v(0, 'aborted-1'), v(1, 'aborted-2')] }),
      batch({ baseOffset: 12, producerId: 8, transactional: true, records: [v(0, 'committed-8')] }),
      batch({ baseOffset: 13, producerId: 7, transactional: false, records: [v(0, 'idempotent-7')] }),
      batch({ baseOffset: 14, producerId: 7, transactional: true, records: [v(0, 'aborted-3')] }),
      marker(15, 7, 'abort'),
      marker(16, 8, 'commit'),
      // Producer 7's next transaction is not listed: committed.
      batch({ baseOffset: 17, producerId: 7, transactional: true, records: [v(0, 'committed-7')] }),
      marker(18, 7, 'commit'),
      // Listed again: the abort starts at its first offset, not before.
      batch({ baseOffset: 19, producerId: 7, transactional: true, records: [v(0, 'aborted-4')] }),
      marker(20, 7, 'abort'),
      batch({ baseOffset: 21, records: [v(0, 'plain')] }),
    ]);
    const aborted = [
      { producerId: 7, firstOffset: 19 },
      { producerId: 7, firstOffset: 10 },
    ].sort((a, b) => a.firstOffset - b.firstOffset);
    expect(read(log, 0, 1_000, aborted).map(([offset, , value]) => [offset, value])).toEqual([
      ['12', 'committed-8'],
      ['13', 'idempotent-7'],
      ['17', 'committed-7'],
      ['21', 'plain'],
    ]);
    expect(offsetAfterWholeBatches(log, 10)).toBe(22);
    // Without the list every transactional record counts as committed: the list is what filters.
    expect(read(log)).toHaveLength(8);
    // Starting past an aborted transaction's first offset still drops the rest of it.
    expect(read(log, 11, 1_000, aborted).map(([offset]) => offset)).toEqual(['12', '13', '17', '21']);
  });
});
