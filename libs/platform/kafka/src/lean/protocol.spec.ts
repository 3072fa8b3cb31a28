import { decodeFetchResponse, encodeFetchRequest, LeanReadUnsupportedError, pickVersion } from './protocol';
import { readInt64, WireWriter } from './wire';

// Byte layouts written out from the protocol guide (Fetch v11, non-flexible).

const int16 = (v: number) => [(v >> 8) & 0xff, v & 0xff];
const int32 = (v: number) => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const int64 = (v: number) => (v < 0 ? [0xff, 0xff, 0xff, 0xff, ...int32(v)] : [...int32(Math.floor(v / 2 ** 32)), ...int32(v % 2 ** 32)]);
const string = (s: string) => [...int16(s.length), ...Buffer.from(s)];

describe('Fetch v11', () => {
  it('encodes a read-committed request of one topic without a fetch session', () => {
    const body = encodeFetchRequest('ledger', [{ partition: 2, offset: 5_000_000_000 }, { partition: 0, offset: 7 }], { maxWaitMs: 500, maxBytes: 8_388_608, partitionMaxBytes: 1_048_576 });
    const partition = (id: number, offset: number) => [...int32(id), ...int32(-1), ...int64(offset), ...int64(-1), ...int32(1_048_576)];
    expect([...body]).toEqual([
      ...int32(-1), // replica id
      ...int32(500),
      ...int32(1), // min bytes
      ...int32(8_388_608),
      1, // READ_COMMITTED
      ...int32(0), // session id
      ...int32(-1), // session epoch
      ...int32(1),
      ...string('ledger'),
      ...int32(2),
      ...partition(2, 5_000_000_000),
      ...partition(0, 7),
      ...int32(0), // forgotten topics
      ...string(''), // rack
    ]);
  });

  it('decodes partitions of the topic with their errors, aborted transactions (sorted) and records as views', () => {
    const records = Buffer.from([1, 2, 3, 4]);
    const answer = Buffer.from([
      ...int32(0), // throttle
      ...int16(0),
      ...int32(0), // session id
      ...int32(2), // topics
      ...string('other'),
      ...int32(1),
      ...[...int32(0), ...int16(0), ...int64(1), ...int64(1), ...int64(0), ...int32(-1), ...int32(-1), ...int32(-1)],
      ...string('ledger'),
      ...int32(2),
      ...int32(1),
      ...int16(0),
      ...int64(100), // high watermark
      ...int64(90), // last stable offset
      ...int64(0), // log start
      ...int32(2),
      ...int64(7),
      ...int64(40),
      ...int64(8),
      ...int64(12),
      ...int32(-1), // preferred read replica
      ...int32(records.length),
      ...records,
      ...int32(3),
      ...int16(6), // NOT_LEADER_OR_FOLLOWER
      ...int64(-1),
      ...int64(-1),
      ...int64(-1),
      ...int32(-1), // null aborted transactions
      ...int32(-1),
      ...int32(-1), // null records
    ]);
    const [first, second, ...rest] = decodeFetchResponse(answer, 'ledger');
    expect(rest).toEqual([]);
    expect(first).toMatchObject({ partition: 1, errorCode: 0, highWatermark: 100, lastStableOffset: 90, abortedTransactions: [{ producerId: 8, firstOffset: 12 }, { producerId: 7, firstOffset: 40 }] });
    expect([...(first?.records ?? [])]).toEqual([1, 2, 3, 4]);
    expect(first?.records?.buffer).toBe(answer.buffer);
    expect(second).toMatchObject({ partition: 3, errorCode: 6, abortedTransactions: [], records: null });
  });

  it('refuses an answer cut short', () => {
    expect(() => decodeFetchResponse(Buffer.from([...int32(0), ...int16(0)]), 'ledger')).toThrow('ends early');
  });
});

describe('versions and numbers', () => {
  it('picks the newest version both sides speak, and refuses when there is none', () => {
    const ranges = new Map([[1, { min: 4, max: 18 }], [3, { min: 0, max: 6 }]]);
    expect(pickVersion(ranges, 3, [8, 7, 6, 5], 'Metadata')).toBe(6);
    expect(() => pickVersion(ranges, 1, [3], 'Fetch')).toThrow(LeanReadUnsupportedError);
    expect(() => pickVersion(ranges, 18, [0], 'ApiVersions')).toThrow('in no version');
  });

  it('reads int64s as numbers up to 2^53 and refuses beyond', () => {
    const at = (v: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(v);
      return b;
    };
    expect(readInt64(at(-1n), 0)).toBe(-1);
    expect(readInt64(at(2n ** 53n - 1n), 0)).toBe(2 ** 53 - 1);
    expect(readInt64(at(-(2n ** 53n)), 0)).toBe(-(2 ** 53));
    expect(() => readInt64(at(2n ** 53n), 0)).toThrow('beyond 2^53');
  });

  it('grows the request buffer as it is written', () => {
    const writer = new WireWriter();
    for (let i = 0; i < 1_000; i++) writer.int32(i);
    const bytes = writer.bytes();
    expect(bytes.length).toBe(4_000);
    expect(bytes.readInt32BE(3_996)).toBe(999);
  });
});
