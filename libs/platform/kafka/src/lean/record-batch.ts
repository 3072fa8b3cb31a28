/**
 * Record batches (magic 2) as a Fetch answer carries them, decoded into ReceivedMessages the way a
 * read-committed consumer must see them. Layout (protocol guide, "Record Batch"):
 *
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32 |
 *   attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
 *   producerId int64 | producerEpoch int16 | baseSequence int32 | recordCount int32 | records
 *
 * and each record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 * key (varint length, -1 null) | value (same) | header count varint | headers (varint-length key,
 * varint-length value). The CRC is not checked (as librdkafka by default): TCP and the broker's own
 * checks on write already guard the bytes.
 */
import { gunzipSync } from 'node:zlib';
import type { ReceivedMessage } from '../message-bus';
import { AbortedTransaction, LeanReadUnsupportedError } from './protocol';
import { readInt64, WireFormatError } from './wire';

const BATCH_HEADER_BYTES = 61;
/** Where batchLength counts from: the bytes after baseOffset and batchLength. */
const LOG_OVERHEAD = 12;
const MAGIC_AT = 16;
const ATTRIBUTES_AT = 21;
const LAST_OFFSET_DELTA_AT = 23;
const BASE_TIMESTAMP_AT = 27;
const MAX_TIMESTAMP_AT = 35;
const PRODUCER_ID_AT = 43;
const RECORD_COUNT_AT = 57;

const COMPRESSION_MASK = 0x07;
const LOG_APPEND_TIME = 0x08;
const TRANSACTIONAL = 0x10;
const CONTROL = 0x20;
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const ABORT_MARKER = 0;

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
const EMPTY_VALUE = Buffer.alloc(0);

/** A cursor over record bytes, reading the zigzag varints of the record format. */
export class VarintCursor {
  constructor(
    public buffer: Buffer,
    public at: number,
  ) {}

  /** A zigzag-encoded signed 32-bit varint. */
  varint(): number {
    const buffer = this.buffer;
    let raw = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const byte = buffer[this.at++];
      if (byte === undefined) throw new WireFormatError('record ends inside a varint');
      raw |= (byte & 0x7f) << shift;
      if (byte < 0x80) return (raw >>> 1) ^ -(raw & 1);
    }
    throw new WireFormatError('varint longer than 5 bytes');
  }

  /** A zigzag-encoded signed 64-bit varint, exact up to 2^53 (timestamp deltas). */
  varlong(): number {
    const buffer = this.buffer;
    let raw = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const byte = buffer[this.at++];
      if (byte === undefined) throw new WireFormatError('record ends inside a varint');
      raw += (byte & 0x7f) * scale;
      if (byte < 0x80) return raw % 2 === 0 ? raw / 2 : -(raw + 1) / 2;
      scale *= 128;
    }
    throw new WireFormatError('varlong longer than 10 bytes');
  }
}

/** The offset after the last whole batch in `records` (`from` when there is none): where the next fetch starts. */
export function offsetAfterWholeBatches(records: Buffer, from: number): number {
  let next = from;
  for (let at = 0; at + LOG_OVERHEAD <= records.length; ) {
    const end = at + LOG_OVERHEAD + records.readInt32BE(at + 8);
    if (end > records.length || at + BATCH_HEADER_BYTES > records.length) break;
    next = Math.max(next, readInt64(records, at) + records.readInt32BE(at + LAST_OFFSET_DELTA_AT) + 1);
    at = end;
  }
  return next;
}

export interface PartitionSlice {
  readonly topic: string;
  readonly partition: number;
  /** First offset to hand over: earlier records of a batch are dropped (a read starting mid-batch). */
  readonly from: number;
  /** Offsets from here on are dropped: past the range. */
  readonly end: number;
}

/**
 * The committed records of `slice` in the whole batches of `records`, in offset order: control
 * batches (transaction markers) are dropped, and so are the batches of transactions the broker
 * lists as aborted. The filter is the one the protocol prescribes for read-committed consumers: a
 * producer's listed abort becomes active at the transaction's first offset and ends at its abort
 * marker; a transactional batch of a producer with an active abort is dropped.
 */
export function decodeCommitted(records: Buffer, abortedTransactions: readonly AbortedTransaction[], slice: PartitionSlice): ReceivedMessage[] {
  const messages: ReceivedMessage[] = [];
  const abortingProducers = new Set<number>();
  let nextAborted = 0;
  for (let at = 0; at + LOG_OVERHEAD <= records.length; ) {
    const batchEnd = at + LOG_OVERHEAD + records.readInt32BE(at + 8);
    if (batchEnd > records.length || at + BATCH_HEADER_BYTES > records.length) break; // cut short by max bytes
    const batchAt = at;
    at = batchEnd;
    const magic = records.readInt8(batchAt + MAGIC_AT);
    if (magic !== 2) throw new LeanReadUnsupportedError(`record batch magic ${magic} at offset ${readInt64(records, batchAt)} (only magic 2 is read)`);
    const baseOffset = readInt64(records, batchAt);
    if (baseOffset >= slice.end) break;
    const lastOffset = baseOffset + records.readInt32BE(batchAt + LAST_OFFSET_DELTA_AT);
    const attributes = records.readInt16BE(batchAt + ATTRIBUTES_AT);
    const producerId = readInt64(records, batchAt + PRODUCER_ID_AT);
    const control = (attributes & CONTROL) !== 0;
    if (producerId >= 0) {
      for (; nextAborted < abortedTransactions.length; nextAborted++) {
        const aborted = abortedTransactions[nextAborted] as AbortedTransaction;
        if (aborted.firstOffset > lastOffset) break;
        abortingProducers.add(aborted.producerId);
      }
      if (control) {
        if (isAbortMarker(records, batchAt + BATCH_HEADER_BYTES, batchEnd)) abortingProducers.delete(producerId);
      } else if ((attributes & TRANSACTIONAL) !== 0 && abortingProducers.has(producerId)) {
        continue;
      }
    }
    if (control || lastOffset < slice.from) continue;
    decodeRecords(records, batchAt, batchEnd, baseOffset, attributes, slice, messages);
  }
  return messages;
}

/** A control batch's one record has key {version int16, type int16}; type 0 is an abort marker. */
function isAbortMarker(records: Buffer, recordsAt: number, batchEnd: number): boolean {
  const cursor = new VarintCursor(records, recordsAt);
  cursor.varint(); // length
  cursor.at += 1; // attributes
  cursor.varlong(); // timestamp delta
  cursor.varint(); // offset delta
  const keyLength = cursor.varint();
  if (keyLength < 4 || cursor.at + 4 > batchEnd) throw new WireFormatError('control record without a marker key');
  return records.readInt16BE(cursor.at + 2) === ABORT_MARKER;
}

function decodeRecords(records: Buffer, batchAt: number, batchEnd: number, baseOffset: number, attributes: number, slice: PartitionSlice, into: ReceivedMessage[]): void {
  const codec = attributes & COMPRESSION_MASK;
  let body: Buffer;
  if (codec === 0) body = records.subarray(batchAt + BATCH_HEADER_BYTES, batchEnd);
  else if (codec === 1) body = gunzipSync(records.subarray(batchAt + BATCH_HEADER_BYTES, batchEnd));
  else throw new LeanReadUnsupportedError(`record batch at offset ${baseOffset} is compressed with ${CODECS[codec] ?? `codec ${codec}`} (the lean reader reads none and gzip)`);
  const count = records.readInt32BE(batchAt + RECORD_COUNT_AT);
  const logAppendTime = (attributes & LOG_APPEND_TIME) !== 0;
  const baseTimestamp = readInt64(records, batchAt + BASE_TIMESTAMP_AT);
  const maxTimestamp = readInt64(records, batchAt + MAX_TIMESTAMP_AT);
  const { topic, partition, from, end } = slice;
  const cursor = new VarintCursor(body, 0);
  for (let i = 0; i < count; i++) {
    const length = cursor.varint();
    const recordEnd = cursor.at + length;
    if (recordEnd > body.length) throw new WireFormatError(`record ${i} of the batch at offset ${baseOffset} runs past the batch`);
    cursor.at += 1; // attributes: none defined
    const timestampDelta = cursor.varlong();
    const offset = baseOffset + cursor.varint();
    if (offset < from || offset >= end) {
      cursor.at = recordEnd;
      continue;
    }
    const keyLength = cursor.varint();
    const key = keyLength < 0 ? null : body.toString('utf8', cursor.at, (cursor.at += keyLength));
    const valueLength = cursor.varint();
    const value = valueLength < 0 ? EMPTY_VALUE : body.subarray(cursor.at, (cursor.at += valueLength));
    const headerCount = cursor.varint();
    const headers = headerCount <= 0 ? NO_HEADERS : readHeaders(cursor, headerCount);
    if (cursor.at > recordEnd) throw new WireFormatError(`record at offset ${offset} runs past its length`);
    cursor.at = recordEnd;
    into.push({ topic, partition, offset: String(offset), timestampMs: logAppendTime ? maxTimestamp : baseTimestamp + timestampDelta, key, value, headers });
  }
}

/** Headers as strings; a name given twice keeps its first value, and a null value is left out. */
function readHeaders(cursor: VarintCursor, count: number): Record<string, string> {
  const headers: Record<string, string> = {};
  const buffer = cursor.buffer;
  for (let h = 0; h < count; h++) {
    const nameLength = cursor.varint();
    if (nameLength < 0) throw new WireFormatError('record header without a name');
    const name = buffer.toString('utf8', cursor.at, (cursor.at += nameLength));
    const valueLength = cursor.varint();
    if (valueLength < 0) continue;
    const value = buffer.toString('utf8', cursor.at, (cursor.at += valueLength));
    if (!Object.prototype.hasOwnProperty.call(headers, name)) headers[name] = value;
  }
  return headers;
}
