import * as flatbuffers from 'flatbuffers';
import { copyBytes, int64, requireLength, requireNonEmpty, uint64, utf8 } from './codec';
import { WireFormatError } from './errors';
import * as fb from './generated/license_generated';
import { CONFIG_HASH_BYTES, REQUEST_NONCE_BYTES } from './license-request';
import { requireStorableText } from './text';
import { type FieldKind, verifyTable } from './verify';

/*
 * The release exchange (docs/protocol.md "Release"): a gateway process that stops cleanly gives
 * back its share of a lock (ReleaseRequest), and the server says what became of the lock
 * (ReleaseAnswer). Both travel in a Sealed box, as the license exchange does.
 */

export const releaseRequestFields = [
  ['token_id', 'str'],
  ['request_time_utc', 'i64'],
  ['nonce', 'bytes'],
  ['config_hash', 'bytes'],
  ['hostname', 'str'],
  ['process_id', 'u64'],
  ['session_id', 'str'],
] as const satisfies ReadonlyArray<readonly [string, FieldKind]>;

/** Gives back the lock on `configHash` held by the process named by hostname, process id and session id. */
export interface ReleaseRequest {
  readonly tokenId: string;
  readonly requestTimeUtc: bigint;
  readonly nonce: Uint8Array;
  readonly configHash: Uint8Array;
  readonly hostname: string;
  readonly processId: bigint;
  readonly sessionId: string;
}

function validateRequest(request: ReleaseRequest): void {
  requireNonEmpty('ReleaseRequest.token_id', request.tokenId);
  requireLength('ReleaseRequest.nonce', request.nonce, REQUEST_NONCE_BYTES);
  requireLength('ReleaseRequest.config_hash', request.configHash, CONFIG_HASH_BYTES);
  // The holder's names reach the ledger's events (PostgreSQL), as a LicenseRequest's do.
  requireStorableText('ReleaseRequest.token_id', request.tokenId);
  requireStorableText('ReleaseRequest.hostname', request.hostname);
  requireStorableText('ReleaseRequest.session_id', request.sessionId);
}

export function encodeReleaseRequest(request: ReleaseRequest): Uint8Array {
  validateRequest(request);
  const builder = new flatbuffers.Builder(256);
  const tokenId = builder.createString(request.tokenId);
  const nonce = fb.ReleaseRequest.createNonceVector(builder, request.nonce);
  const configHash = fb.ReleaseRequest.createConfigHashVector(builder, request.configHash);
  const hostname = request.hostname === '' ? 0 : builder.createString(request.hostname);
  const sessionId = request.sessionId === '' ? 0 : builder.createString(request.sessionId);
  fb.ReleaseRequest.startReleaseRequest(builder);
  fb.ReleaseRequest.addTokenId(builder, tokenId);
  fb.ReleaseRequest.addRequestTimeUtc(builder, int64('ReleaseRequest.request_time_utc', request.requestTimeUtc));
  fb.ReleaseRequest.addNonce(builder, nonce);
  fb.ReleaseRequest.addConfigHash(builder, configHash);
  if (hostname) fb.ReleaseRequest.addHostname(builder, hostname);
  fb.ReleaseRequest.addProcessId(builder, uint64('ReleaseRequest.process_id', request.processId));
  if (sessionId) fb.ReleaseRequest.addSessionId(builder, sessionId);
  builder.finish(fb.ReleaseRequest.endReleaseRequest(builder));
  return builder.asUint8Array().slice();
}

export function decodeReleaseRequest(bytes: Uint8Array): ReleaseRequest {
  verifyTable('ReleaseRequest', bytes, releaseRequestFields, ['token_id', 'nonce', 'config_hash']);
  const r = fb.ReleaseRequest.getRootAsReleaseRequest(new flatbuffers.ByteBuffer(bytes));
  const request: ReleaseRequest = {
    tokenId: utf8('ReleaseRequest.token_id', r.tokenId(flatbuffers.Encoding.UTF8_BYTES)),
    requestTimeUtc: r.requestTimeUtc(),
    nonce: copyBytes(r.nonceArray()),
    configHash: copyBytes(r.configHashArray()),
    hostname: utf8('ReleaseRequest.hostname', r.hostname(flatbuffers.Encoding.UTF8_BYTES)),
    processId: r.processId(),
    sessionId: utf8('ReleaseRequest.session_id', r.sessionId(flatbuffers.Encoding.UTF8_BYTES)),
  };
  validateRequest(request);
  return request;
}

export const releaseAnswerFields = [
  ['nonce', 'bytes'],
  ['config_hash', 'bytes'],
  ['released_time_utc', 'i64'],
  ['freed', 'bool'],
  ['kept_until_utc', 'i64'],
] as const satisfies ReadonlyArray<readonly [string, FieldKind]>;

/**
 * What became of the lock: `freed` (the license is free again), or still counted until
 * `keptUntilUtc` (the agreement's linger), or, with keptUntilUtc 0, still held by other processes
 * of the same configuration.
 */
export interface ReleaseAnswer {
  readonly nonce: Uint8Array;
  readonly configHash: Uint8Array;
  readonly releasedTimeUtc: bigint;
  readonly freed: boolean;
  readonly keptUntilUtc: bigint;
}

function validateAnswer(answer: ReleaseAnswer): void {
  requireLength('ReleaseAnswer.nonce', answer.nonce, REQUEST_NONCE_BYTES);
  requireLength('ReleaseAnswer.config_hash', answer.configHash, CONFIG_HASH_BYTES);
  if (answer.freed && answer.keptUntilUtc !== 0n) throw new WireFormatError('ReleaseAnswer.kept_until_utc must be 0 when the lock is freed');
}

export function encodeReleaseAnswer(answer: ReleaseAnswer): Uint8Array {
  validateAnswer(answer);
  const builder = new flatbuffers.Builder(128);
  const nonce = fb.ReleaseAnswer.createNonceVector(builder, answer.nonce);
  const configHash = fb.ReleaseAnswer.createConfigHashVector(builder, answer.configHash);
  fb.ReleaseAnswer.startReleaseAnswer(builder);
  fb.ReleaseAnswer.addNonce(builder, nonce);
  fb.ReleaseAnswer.addConfigHash(builder, configHash);
  fb.ReleaseAnswer.addReleasedTimeUtc(builder, int64('ReleaseAnswer.released_time_utc', answer.releasedTimeUtc));
  fb.ReleaseAnswer.addFreed(builder, answer.freed);
  fb.ReleaseAnswer.addKeptUntilUtc(builder, int64('ReleaseAnswer.kept_until_utc', answer.keptUntilUtc));
  builder.finish(fb.ReleaseAnswer.endReleaseAnswer(builder));
  return builder.asUint8Array().slice();
}

export function decodeReleaseAnswer(bytes: Uint8Array): ReleaseAnswer {
  verifyTable('ReleaseAnswer', bytes, releaseAnswerFields, ['nonce', 'config_hash']);
  const a = fb.ReleaseAnswer.getRootAsReleaseAnswer(new flatbuffers.ByteBuffer(bytes));
  const answer: ReleaseAnswer = {
    nonce: copyBytes(a.nonceArray()),
    configHash: copyBytes(a.configHashArray()),
    releasedTimeUtc: a.releasedTimeUtc(),
    freed: a.freed(),
    keptUntilUtc: a.keptUntilUtc(),
  };
  validateAnswer(answer);
  return answer;
}
