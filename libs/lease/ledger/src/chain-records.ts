import { createHash } from 'node:crypto';
import type { EpochMs, LedgerEvent } from '@license-ledger/lease-domain';
import { BinaryReader, BinaryWriter } from './binary-fields';
import { encodeEventBinary } from './event-codec';
import { MalformedRecordError } from './malformed-record';

/*
 * Records of the events topic in format version 1 (docs/ledger-integrity.md):
 *
 *   byte 0       format version, 0x01 (a JSON record of older versions starts with "{")
 *   byte 1       kind: 0x01 event in binary, 0x02 event in JSON (one the binary form cannot hold
 *                exactly), 0x03 signed checkpoint
 *   bytes 2-33   the chain hash of the partition's previous record ("prev")
 *   bytes 34-    the body: the event, or the checkpoint's time, signer and signature
 *
 * The chain: every committed record of a partition, in offset order from the log's start, has the
 * chain hash SHA-256(chain hash of the record before it || the record's value as written); before
 * the first record it is the partition's genesis hash. A version-1 record carries its predecessor's
 * chain hash, so its own follows from its bytes alone. Ownership markers (PartitionClaimed, JSON)
 * carry none: a claim writes one before it knows the head, but they are hashed into the chain all
 * the same, so a marker altered, removed or inserted breaks the link of the next record.
 */

export const RECORD_FORMAT_V1 = 0x01;
export const HASH_BYTES = 32;
export const PUBLIC_KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Where the body of a version-1 record starts. */
export const BODY_OFFSET = 2 + HASH_BYTES;

export const RecordKind = { binaryEvent: 0x01, jsonEvent: 0x02, checkpoint: 0x03 } as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** The chain hash before a partition's first record. */
export function genesisHash(partition: number): Buffer {
  return createHash('sha256').update(`license-ledger/events-chain/v1/genesis/partition=${partition}`, 'utf8').digest();
}

/** The chain hash of a record whose predecessor's chain hash is `prev`. */
export function chainHash(prev: Uint8Array, value: Uint8Array): Buffer {
  return createHash('sha256').update(prev).update(value).digest();
}

/** What a record of the events topic says about its place in the chain. */
export type ChainLink =
  /** A version-1 record: it names its predecessor's chain hash. */
  | { readonly kind: 'linked'; readonly recordKind: RecordKind; readonly prev: Buffer }
  /** A JSON record (an older version's event, or an ownership marker): it names none. */
  | { readonly kind: 'unlinked' };

const UNLINKED: ChainLink = { kind: 'unlinked' };

export function isVersion1(value: Uint8Array): boolean {
  return value[0] === RECORD_FORMAT_V1;
}

/** The chain link a record carries; throws MalformedRecordError for a version-1 record that is cut short or of an unknown kind. */
export function chainLinkOf(value: Buffer): ChainLink {
  if (!isVersion1(value)) return UNLINKED;
  if (value.length < BODY_OFFSET) throw new MalformedRecordError('ledger record', 'version-1 record shorter than its header');
  const recordKind = value[1];
  if (recordKind !== RecordKind.binaryEvent && recordKind !== RecordKind.jsonEvent && recordKind !== RecordKind.checkpoint) {
    throw new MalformedRecordError('ledger record', `unknown record kind ${String(recordKind)}`);
  }
  return { kind: 'linked', recordKind, prev: value.subarray(2, BODY_OFFSET) };
}

function withHeader(kind: RecordKind, prev: Uint8Array, body: Uint8Array): Buffer {
  if (prev.byteLength !== HASH_BYTES) throw new Error(`a chain hash is ${HASH_BYTES} bytes`);
  const value = Buffer.allocUnsafe(BODY_OFFSET + body.byteLength);
  value[0] = RECORD_FORMAT_V1;
  value[1] = kind;
  value.set(prev, 2);
  value.set(body, BODY_OFFSET);
  return value;
}

/** An event as a version-1 record following the record whose chain hash is `prev`. */
export function encodeEventRecord(event: LedgerEvent, prev: Uint8Array): Buffer {
  const binary = encodeEventBinary(event);
  return binary ? withHeader(RecordKind.binaryEvent, prev, binary) : withHeader(RecordKind.jsonEvent, prev, Buffer.from(JSON.stringify(event), 'utf8'));
}

/** A signed checkpoint: the partition's owner vouches for the chain up to `prev` (docs/ledger-integrity.md). */
export interface CheckpointBody {
  readonly at: EpochMs;
  readonly signer: Buffer;
  readonly signature: Buffer;
}

const CHECKPOINT_DOMAIN = Buffer.from('license-ledger/checkpoint/v1\n', 'utf8');

/** The bytes a checkpoint's signature covers: a fixed label, the partition, the chain hash it vouches for, its time. */
export function checkpointMessage(partition: number, prev: Uint8Array, at: EpochMs): Buffer {
  const out = new BinaryWriter(CHECKPOINT_DOMAIN.length + 48);
  out.bytes(CHECKPOINT_DOMAIN);
  out.uint(partition);
  out.bytes(prev);
  out.uint(at);
  return out.finish();
}

export interface CheckpointSigner {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

export function encodeCheckpointRecord(partition: number, prev: Uint8Array, at: EpochMs, signer: CheckpointSigner): Buffer {
  const signature = signer.sign(checkpointMessage(partition, prev, at));
  const body = new BinaryWriter(16 + PUBLIC_KEY_BYTES + SIGNATURE_BYTES);
  body.uint(at);
  body.bytes(signer.publicKey);
  body.bytes(signature);
  return withHeader(RecordKind.checkpoint, prev, body.finish());
}

export function decodeCheckpointBody(value: Buffer): CheckpointBody {
  const input = new BinaryReader(value, BODY_OFFSET, 'checkpoint');
  const at = input.uint();
  const signer = input.bytes(PUBLIC_KEY_BYTES);
  const signature = input.bytes(SIGNATURE_BYTES);
  input.end();
  return { at, signer, signature };
}
