import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  WireFormatError,
  decodeLicenseRequest,
  decodeReleaseAnswer,
  decodeReleaseRequest,
  decodeSignedToken,
  encodeLicenseRequest,
  encodeReleaseAnswer,
  encodeReleaseRequest,
  encodeSignedToken,
  exampleLicenseRequest,
  releaseAnswerFields,
  releaseRequestFields,
  type FieldKind,
  type ReleaseAnswer,
  type ReleaseRequest,
} from './index';

const schema = readFileSync(join(__dirname, '..', 'schema', 'license.fbs'), 'utf8');
const fbsKind: Record<string, FieldKind> = { int64: 'i64', uint64: 'u64', bool: 'bool', string: 'str', '[ubyte]': 'bytes', '[uint32]': 'u32s' };
const schemaFields = (table: string): Array<[string, FieldKind | undefined]> => {
  const body = new RegExp(`table ${table} \\{([\\s\\S]*?)\\n\\}`).exec(schema)?.[1] ?? '';
  return [...body.matchAll(/^\s*(\w+): ([[\]\w]+)/gm)].map((m) => [m[1] ?? '', fbsKind[m[2] ?? '']]);
};

const request: ReleaseRequest = {
  tokenId: '018f4a2e7c1b7d3e9a5f0c2b4e6d8f10',
  requestTimeUtc: 1_767_225_600_000_000_000n,
  nonce: new Uint8Array(16).fill(3),
  configHash: new Uint8Array(32).fill(9),
  hostname: 'gw-prod-01',
  processId: 4242n,
  sessionId: 'c0ffee00-1111-4222-8333-444455556666',
};

const answer: ReleaseAnswer = { nonce: new Uint8Array(16).fill(3), configHash: new Uint8Array(32).fill(9), releasedTimeUtc: 1_767_225_601_000_000_000n, freed: false, keptUntilUtc: 1_767_225_661_000_000_000n };

describe('ReleaseRequest and ReleaseAnswer', () => {
  it.each([
    ['ReleaseRequest', releaseRequestFields],
    ['ReleaseAnswer', releaseAnswerFields],
  ] as const)('%s field kinds match schema/license.fbs slot by slot', (table, fields) => {
    expect(fields.map(([name, kind]) => [name, kind])).toEqual(schemaFields(table));
  });

  it('round-trip, with empty optional strings and a freed lock too', () => {
    expect(decodeReleaseRequest(encodeReleaseRequest(request))).toEqual(request);
    const bare = { ...request, hostname: '', sessionId: '', processId: 0n, requestTimeUtc: 0n };
    expect(decodeReleaseRequest(encodeReleaseRequest(bare))).toEqual(bare);
    expect(decodeReleaseAnswer(encodeReleaseAnswer(answer))).toEqual(answer);
    const freed = { ...answer, freed: true, keptUntilUtc: 0n };
    expect(decodeReleaseAnswer(encodeReleaseAnswer(freed))).toEqual(freed);
  });

  it.each([
    ['token id', { tokenId: '' }, 'ReleaseRequest.token_id must not be empty'],
    ['nonce', { nonce: new Uint8Array(15) }, 'ReleaseRequest.nonce must be 16 bytes, got 15'],
    ['config hash', { configHash: new Uint8Array(33) }, 'ReleaseRequest.config_hash must be 32 bytes, got 33'],
    ['session id', { sessionId: 'a\u0000b' }, 'ReleaseRequest.session_id contains U+0000 (NUL) at character 1'],
    ['process id', { processId: -1n }, 'ReleaseRequest.process_id = -1 does not fit in uint64'],
  ])('refuse to encode a request with a bad %s', (_name, overrides, message) => {
    expect(() => encodeReleaseRequest({ ...request, ...overrides })).toThrow(message);
  });

  it('refuse an answer that is freed and kept at once', () => {
    expect(() => encodeReleaseAnswer({ ...answer, freed: true })).toThrow('ReleaseAnswer.kept_until_utc must be 0 when the lock is freed');
  });

  it('do not decode as the license exchange messages, nor those as them', () => {
    // A replayed LicenseRequest is no release: slot 0 is an int64 there, a string here.
    expect(() => decodeReleaseRequest(encodeLicenseRequest(exampleLicenseRequest()))).toThrow(WireFormatError);
    // A ReleaseRequest lacks the LicenseRequest's required config_hash (slot 37), whatever else fits.
    expect(() => decodeLicenseRequest(encodeReleaseRequest(request))).toThrow(WireFormatError);
    // A ReleaseAnswer is no SignedToken (and its 32-byte config hash could never be a 64-byte signature).
    expect(() => decodeSignedToken(encodeReleaseAnswer(answer))).toThrow(WireFormatError);
    const signed = encodeSignedToken({ token: new Uint8Array(100).fill(1), signature: new Uint8Array(64), keyId: 'abcdef0123456789' });
    expect(() => decodeReleaseAnswer(signed)).toThrow(WireFormatError);
  });

  it('reject every truncation and garbage with WireFormatError', () => {
    for (const [encoded, decode] of [
      [encodeReleaseRequest(request), decodeReleaseRequest],
      [encodeReleaseAnswer(answer), decodeReleaseAnswer],
    ] as const) {
      for (let length = 0; length < encoded.byteLength; length += 3) expect(() => decode(encoded.subarray(0, length))).toThrow(WireFormatError);
      expect(() => decode(new TextEncoder().encode('{"json": "not flatbuffers"}'))).toThrow(WireFormatError);
    }
  });
});
