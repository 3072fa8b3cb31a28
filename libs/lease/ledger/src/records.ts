import {
  AgreementId,
  EpochMs,
  LedgerCommand,
  LedgerEvent,
  LeaseOutcome,
  parseLedgerCommand,
  parseLedgerEvent,
} from '@license-ledger/lease-domain';
import { keyId } from '@license-ledger/protocol-crypto';
import { BODY_OFFSET, chainLinkOf, decodeCheckpointBody, isVersion1, RecordKind } from './chain-records';
import { decodeEventBinary } from './event-codec';
import { MalformedRecordError } from './malformed-record';

export { MalformedRecordError } from './malformed-record';

/**
 * What travels on the ledger's topics. Commands and replies are JSON; the events topic holds
 * version-1 records (chain-records.ts: binary events, signed checkpoints) after JSON records of
 * older versions, and JSON ownership markers. Commands and events are keyed by the id of the
 * stream that decides them (an agreement id, or a gateway key for the key streams); replies by the
 * id of the instance that asked.
 */
export interface CommandEnvelope {
  readonly command: LedgerCommand;
  /** Instance id to send the outcome to; null when nobody waits (fire and forget). */
  readonly replyTo: string | null;
  /**
   * A follow-up that carries another request's answer (see reactions.ts in the domain): the reply
   * goes out under this request id, the one its asker waits for. Absent: the command's own id.
   */
  readonly answers?: string;
  /**
   * When the asker stops waiting (epoch ms). A command consumed later is not decided: the asker has
   * answered "not decided" (503) by then, so a late grant would hold a license nobody has a token for.
   */
  readonly deadlineMs?: number;
}

/**
 * Written by a new partition owner right after it fenced the previous one. When its own state
 * reader reaches this record, it has seen every event the previous owner committed.
 */
export interface PartitionClaimed {
  readonly type: 'PartitionClaimed';
  readonly data: { readonly partition: number; readonly owner: string; readonly claimId: string };
  readonly metadata: { readonly at: EpochMs };
}

/**
 * Written by a partition's owner every so many records or seconds: its signature vouches for the
 * partition's chain up to this record (docs/ledger-integrity.md). Changes no state.
 */
export interface LedgerCheckpoint {
  readonly type: 'LedgerCheckpoint';
  /** The key id (keyId of protocol-crypto) of the public key that signed it. */
  readonly data: { readonly signerKeyId: string };
  readonly metadata: { readonly at: EpochMs };
}

export type LedgerRecord = LedgerEvent | PartitionClaimed | LedgerCheckpoint;

/** A record that changes state (not an ownership marker or a checkpoint). */
export function isLedgerEvent(record: LedgerRecord): record is LedgerEvent {
  return record.type !== 'PartitionClaimed' && record.type !== 'LedgerCheckpoint';
}

export interface ReplyEnvelope {
  readonly requestId: string;
  readonly agreementId: AgreementId;
  readonly outcome: LeaseOutcome;
}

function parseJson(bytes: Buffer, what: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new MalformedRecordError(what, error instanceof Error ? error.message : String(error));
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function encodeJson(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

export function decodeCommandEnvelope(bytes: Buffer): CommandEnvelope {
  const json = parseJson(bytes, 'command');
  if (!isObject(json)) throw new MalformedRecordError('command', 'not an object');
  const replyTo = json['replyTo'];
  if (replyTo !== null && typeof replyTo !== 'string') throw new MalformedRecordError('command', 'replyTo must be a string or null');
  const deadlineMs = json['deadlineMs'];
  if (deadlineMs !== undefined && !Number.isSafeInteger(deadlineMs)) throw new MalformedRecordError('command', 'deadlineMs must be an integer');
  const answers = json['answers'];
  if (answers !== undefined && (typeof answers !== 'string' || answers.length === 0)) throw new MalformedRecordError('command', 'answers must be a request id');
  const command = parseLedgerCommand(json['command']);
  return {
    command,
    replyTo,
    ...(typeof deadlineMs === 'number' ? { deadlineMs } : {}),
    ...(typeof answers === 'string' ? { answers } : {}),
  };
}

/** Any record of the events topic, of any format version; throws MalformedRecordError. */
export function decodeLedgerRecord(bytes: Buffer): LedgerRecord {
  if (isVersion1(bytes)) {
    // The common case first, without building the link (a replay reads millions of these).
    if (bytes[1] === RecordKind.binaryEvent && bytes.length > BODY_OFFSET) return decodeEventBinary(bytes, BODY_OFFSET);
    const link = chainLinkOf(bytes);
    if (link.kind === 'unlinked') throw new MalformedRecordError('ledger record', 'unreachable');
    switch (link.recordKind) {
      case RecordKind.binaryEvent:
        return decodeEventBinary(bytes, BODY_OFFSET);
      case RecordKind.jsonEvent:
        return parseLedgerEvent(parseJson(bytes.subarray(BODY_OFFSET), 'ledger record'));
      case RecordKind.checkpoint: {
        const checkpoint = decodeCheckpointBody(bytes);
        return { type: 'LedgerCheckpoint', data: { signerKeyId: keyId(checkpoint.signer) }, metadata: { at: checkpoint.at } };
      }
      default:
        return unexpectedKind(link.recordKind);
    }
  }
  const json = parseJson(bytes, 'ledger record');
  if (isObject(json) && json['type'] === 'PartitionClaimed') {
    const data = json['data'];
    const metadata = json['metadata'];
    if (
      !isObject(data) ||
      typeof data['partition'] !== 'number' ||
      typeof data['owner'] !== 'string' ||
      typeof data['claimId'] !== 'string' ||
      !isObject(metadata) ||
      typeof metadata['at'] !== 'number'
    ) {
      throw new MalformedRecordError('ledger record', 'bad PartitionClaimed');
    }
    return {
      type: 'PartitionClaimed',
      data: { partition: data['partition'], owner: data['owner'], claimId: data['claimId'] },
      metadata: { at: metadata['at'] },
    };
  }
  return parseLedgerEvent(json);
}

function unexpectedKind(kind: never): never {
  throw new MalformedRecordError('ledger record', `unknown record kind ${String(kind)}`);
}

export function decodeReplyEnvelope(bytes: Buffer): ReplyEnvelope {
  const json = parseJson(bytes, 'reply');
  if (!isObject(json) || typeof json['requestId'] !== 'string' || typeof json['agreementId'] !== 'string' || !isObject(json['outcome'])) {
    throw new MalformedRecordError('reply', 'expected {requestId, agreementId, outcome}');
  }
  // Replies come from our own lease service; the outcome's shape is the domain's.
  return { requestId: json['requestId'], agreementId: json['agreementId'], outcome: json['outcome'] as unknown as LeaseOutcome };
}
