import {
  CUMULATIVE_FIELDS,
  type CumulativeField,
  cumulativeBuckets,
  DeltaSums,
  deltaText,
  encodeTelemetryRecord,
  estimateQuantile,
  factsKeyOf,
  hasFactsKey,
  INTERNAL_BOUNDS_NS,
  parseTelemetry,
  parseTelemetryBySchema,
  parseTelemetryLazy,
  plainReport,
  reportDelta,
  sampleTelemetryRecord,
  signaturePayload,
  stateFromArray,
  stateToArray,
  STRING_FIELDS,
  type TelemetryReport,
} from './index';

const parse = (overrides: Record<string, unknown> = {}): TelemetryReport => {
  const result = parseTelemetry(JSON.stringify(sampleTelemetryRecord(overrides)));
  if (!result.ok) throw new Error(result.error);
  return result.report;
};
const parse2 = (overrides: Record<string, unknown> = {}): TelemetryReport => {
  const result = parseTelemetry(encodeTelemetryRecord(sampleTelemetryRecord(overrides)));
  if (!result.ok) throw new Error(result.error);
  return result.report;
};
const at = (field: CumulativeField): number => CUMULATIVE_FIELDS.indexOf(field);
const value = (r: TelemetryReport, field: CumulativeField): number => r.cumulative[at(field)] as number;

describe('parseTelemetry', () => {
  it('accepts the v1 format: cumulative values as exact doubles, other 64-bit values as decimal strings', () => {
    const report = parse({ create_order: 12 });
    expect(value(report, 'create_order')).toBe(12);
    expect(report.cumulativeBig).toBeUndefined();
    expect(report.received_time_utc).toBe('1795000000000000000');
    expect(report.received_at).toBe('2026-11-18T11:06:40.000000Z');
    expect(report.cpu_affinity).toEqual([2, 3]);
  });

  it('ignores fields a later v1 adds, and derives a missing session id from the process', () => {
    const report = parse({ added_later: 1, session_id: '', key_fingerprint: 'a4d6a7e01b5ef66a', hostname: 'gw-9', process_id: 77, process_start_time_utc: '123' });
    expect(report).not.toHaveProperty('added_later');
    expect(report.session_id).toBe('~a4d6a7e01b5ef66a/gw-9/77/123');
  });

  it.each<[string, string, unknown]>([
    ['not JSON', '{', expect.stringMatching(/^not JSON: /)],
    ['wrong schema', JSON.stringify(sampleTelemetryRecord({ schema: 'license-ledger/telemetry/v2' })), 'schema: Invalid input: expected "license-ledger/telemetry/v1"'],
    ['number instead of decimal string', JSON.stringify({ ...sampleTelemetryRecord(), create_order: 5 }), 'create_order: Invalid input: expected string, received number'],
    ['negative counter', JSON.stringify(sampleTelemetryRecord({ create_order: '-1' })), 'create_order: unsigned decimal string'],
    ['short nonce', JSON.stringify(sampleTelemetryRecord({ nonce: 'abcd' })), 'nonce: 16 bytes as lowercase hex'],
    ['upper-case hex', JSON.stringify(sampleTelemetryRecord({ config_hash: 'AB'.repeat(32) })), 'config_hash: 32 bytes as lowercase hex'],
    ['missing field', JSON.stringify((({ session_id: _s, ...rest }) => rest)(sampleTelemetryRecord())), 'session_id: Invalid input: expected string, received undefined'],
    ['uint32 out of range', JSON.stringify(sampleTelemetryRecord({ cpuid: [2 ** 32] })), 'cpuid.0: Too big: expected number to be <=4294967295'],
    ['beyond bigint', JSON.stringify(sampleTelemetryRecord({ users: '18446744073709551615' })), 'users: unsigned decimal string'],
    ['U+0000 in a string', JSON.stringify(sampleTelemetryRecord({ hostname: 'gw\u0000-1' })), 'hostname: contains U+0000 or a lone surrogate'],
    ['U+0000 in the agreement', JSON.stringify(sampleTelemetryRecord({ agreement_id: '\u0000' })), 'agreement_id: contains U+0000 or a lone surrogate'],
    // JSON may spell an unpaired surrogate; PostgreSQL cannot store it.
    ['a lone high surrogate', JSON.stringify(sampleTelemetryRecord({ hostname: 'gw-1' })).replace('gw-1', 'gw-\\ud800'), 'hostname: contains U+0000 or a lone surrogate'],
    ['a lone low surrogate', JSON.stringify(sampleTelemetryRecord({ api_name: 'x' })).replace('"api_name":"x"', '"api_name":"\\udc00x"'), 'api_name: contains U+0000 or a lone surrogate'],
  ])('rejects %s, saying why', (_name, value, error) => {
    expect(parseTelemetry(value)).toEqual({ ok: false, error });
  });
});

describe('parseTelemetry agrees with the zod schema on every field', () => {
  // The hand-written check must accept exactly what the schema accepts, and give the same report.
  const base = sampleTelemetryRecord({ create_order: 3, cpuid: [1, 2] });
  const oddValues: unknown[] = [
    undefined, null, true, 0, 1.5, -1, 2 ** 32, Number.MAX_SAFE_INTEGER, '', 'x', '0', '00', '01', '-0', '-1', '+1', ' 1', '1 ',
    '9223372036854775807', '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '18446744073709551615', '1e3',
    '0f1e2d3c4b5a69788796a5b4c3d2e1f0', '0F1E2D3C4B5A69788796A5B4C3D2E1F0', 'ab'.repeat(32), 'AB'.repeat(32), 'ab'.repeat(31),
    'x'.repeat(4096), 'x'.repeat(4097), 'a\u0000b', '\u0000', '\ud800', 'a\udc00', '\ud83d\ude00', 'granted', 'invalid_request', 'denied', 'license-ledger/telemetry/v1',
    [], [0, 4294967295], [4294967296], [-1], [1.5], ['1'], new Array(1025).fill(0), new Array(1024).fill(7), {}, { a: 1 },
  ];
  const cases: Array<[string, string]> = [
    ['not an object', '[]'],
    ['null', 'null'],
    ['a string', '"x"'],
    ['extra fields only', JSON.stringify({ ...base, later: { nested: true } })],
  ];
  for (const field of Object.keys(base)) {
    for (const value of oddValues) cases.push([`${field} = ${JSON.stringify(value)?.slice(0, 30)}`, JSON.stringify({ ...base, [field]: value })]);
  }
  it(`on ${cases.length} variants`, () => {
    let accepted = 0;
    for (const [name, value] of cases) {
      const quick = parseTelemetry(value);
      const reference = parseTelemetryBySchema(value);
      if (quick.ok !== reference.ok || (quick.ok && reference.ok && !sameReport(quick.report, reference.report)) || (!quick.ok && !reference.ok && quick.error !== reference.error)) {
        throw new Error(`disagree on ${name}: ${JSON.stringify([quick, reference], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
      }
      if (quick.ok) accepted += 1;
    }
    // Both outcomes are exercised.
    expect(accepted).toBeGreaterThan(100);
    expect(accepted).toBeLessThan(cases.length - 100);
  });
  const sameReport = (a: TelemetryReport, b: TelemetryReport): boolean => {
    const keys = Object.keys(a).sort();
    return JSON.stringify(keys) === JSON.stringify(Object.keys(b).sort()) && keys.every((k) => JSON.stringify((a as unknown as Record<string, unknown>)[k], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) === JSON.stringify((b as unknown as Record<string, unknown>)[k], (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)));
  };
});

describe('v2 (binary) records', () => {
  it('read back as the v1 JSON of the same record reads', () => {
    for (const overrides of [
      {},
      { agreement_id: null, decision: 'no_license_agreement', session_id: '', cpuid: [], cpu_affinity: [0, 4294967295] },
      { hostname: 'gw-ü-€-😀', package_version: '', users: '9223372036854775807', received_time_utc: '-5', request_time_utc: '-9223372036854775808' },
      { ...cumulativeBuckets('external', [1, 2, 3, 4, 5, 6, 7], 123456789), create_order: '9007199254740992', system_uptime: '9007199254740993' },
    ]) {
      const record = sampleTelemetryRecord(overrides);
      const v1 = parse(overrides);
      const v2 = parse2(overrides);
      expect({ ...v2, version: 1 }).toEqual(v1);
      expect(v2.version).toBe(2);
      expect(JSON.stringify(record).length).toBeGreaterThan(encodeTelemetryRecord(record).length);
    }
  });

  const valid = (): Buffer => encodeTelemetryRecord(sampleTelemetryRecord());
  const STRINGS_AT = 428;
  const hostnameAt = (b: Buffer): number => {
    let offset = STRINGS_AT;
    for (let i = 0; i < 6; i++) offset += b.readUInt16LE(384 + 2 * i);
    return offset;
  };
  it.each<[string, (b: Buffer) => Buffer, string]>([
    ['empty after the marker', () => Buffer.from([0]), 'v2: 1 bytes is shorter than the fixed part (428)'],
    ['truncated fixed part', (b) => b.subarray(0, 400), 'v2: 400 bytes is shorter than the fixed part (428)'],
    ['truncated strings', (b) => b.subarray(0, b.length - 40), 'v2: strings or vectors run past the end of the record'],
    ['unknown version', (b) => ((b[1] = 3), b), 'v2: unknown version 3'],
    ['unknown decision', (b) => ((b[2] = 4), b), 'v2: unknown decision 4'],
    ['unknown presence bit', (b) => ((b[3] = 3), b), 'v2: unknown presence bits'],
    ['unknown flag bit', (b) => (b.writeUInt16LE(1 << 10, 4), b), 'v2: unknown flag bits'],
    ['reserved bytes set', (b) => (b.writeUInt16LE(1, 6), b), 'v2: unknown flag bits'],
    ['u64 above 2^63-1', (b) => ((b[40 + 7] = 0x80), b), 'v2: package_build_number exceeds 2^63-1'],
    ['cumulative above 2^63-1', (b) => ((b[160 + 7] = 0xff), b), 'v2: create_order exceeds 2^63-1'],
    ['agreement flagged present but empty', () => Buffer.from(encodeTelemetryRecord(sampleTelemetryRecord({ agreement_id: null })).fill(1, 3, 4)), 'v2: agreement_id presence and length disagree'],
    ['agreement flagged absent but given', (b) => ((b[3] = 0), b), 'v2: agreement_id presence and length disagree'],
    ['empty package name', () => encodeTelemetryRecord(sampleTelemetryRecord({ package_name: '' })), 'v2: package_name is empty'],
    ['empty key fingerprint', () => encodeTelemetryRecord(sampleTelemetryRecord({ key_fingerprint: '' })), 'v2: key_fingerprint is empty'],
    ['U+0000 in a string', () => encodeTelemetryRecord(sampleTelemetryRecord({ hostname: 'gw\u0000' })), 'v2: hostname contains U+0000'],
    ['U+0000 in the session id', () => encodeTelemetryRecord(sampleTelemetryRecord({ session_id: '\u0000' })), 'v2: session_id contains U+0000'],
    ['invalid UTF-8', (b) => ((b[hostnameAt(b)] = 0xff), b), 'v2: strings are not valid UTF-8'],
    ['a string starting inside a character', () => {
      const b = encodeTelemetryRecord(sampleTelemetryRecord({ package_build_host: 'é', hostname: 'x' }));
      // Move one byte of é from package_build_host to hostname: still valid UTF-8 as a whole.
      b.writeUInt16LE(1, 384 + 2 * 5);
      b.writeUInt16LE(2, 384 + 2 * 6);
      return b;
    }, 'v2: hostname starts inside a character'],
    ['string over 4096 characters', () => encodeTelemetryRecord(sampleTelemetryRecord({ machine: 'm'.repeat(4097) })), 'v2: machine is longer than 4096 characters'],
    ['too many cpuid values', (b) => (b.writeUInt16LE(1025, 424), b), 'v2: more than 1024 cpuid or cpu_affinity values'],
  ])('rejects %s, saying why', (_name, corrupt, error) => {
    expect(parseTelemetry(corrupt(valid()))).toEqual({ ok: false, error });
  });

  const lazy = (overrides: Record<string, unknown> = {}): TelemetryReport => {
    const result = parseTelemetryLazy(encodeTelemetryRecord(sampleTelemetryRecord(overrides)));
    if (!result.ok) throw new Error(result.error);
    return result.report;
  };

  it('reads lazily (as the sink does) the same report, field by field', () => {
    for (const overrides of [
      {},
      { agreement_id: null, decision: 'no_license_agreement', session_id: '', cpuid: [], cpu_affinity: [0, 4294967295] },
      { hostname: 'gw-ü-€-😀', api: 'ä\tb', package_version: '', users: '9223372036854775807', received_time_utc: '-5', request_time_utc: '-9223372036854775808' },
      { ...cumulativeBuckets('external', [1, 2, 3, 4, 5, 6, 7], 123456789), create_order: '9007199254740992', system_uptime: '9007199254740993', is_uat: true, journal: true },
    ]) {
      const report = lazy(overrides);
      expect(plainReport(report)).toEqual(parse2(overrides));
      expect({ ...plainReport(report), version: 1 }).toEqual(parse(overrides));
    }
  });

  it('rejects in the lazy reading whatever the full one rejects, with the same error', () => {
    const base = encodeTelemetryRecord(sampleTelemetryRecord({ hostname: 'gw-é', machine: 'é'.repeat(2048), session_id: 's\u0000' }));
    expect(parseTelemetryLazy(base)).toEqual({ ok: false, error: 'v2: session_id contains U+0000' });
    const long = encodeTelemetryRecord(sampleTelemetryRecord({ machine: 'é'.repeat(4097) }));
    expect(parseTelemetryLazy(long)).toEqual(parseTelemetry(long));
    expect(parseTelemetryLazy(long).ok).toBe(false);
    expect(parseTelemetryLazy(encodeTelemetryRecord(sampleTelemetryRecord({ machine: 'é'.repeat(4096) }))).ok).toBe(true);
    let seed = 11;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    const valid = encodeTelemetryRecord(sampleTelemetryRecord({ hostname: 'gw-é' }));
    for (let i = 0; i < 1000; i++) {
      const b = Buffer.from(valid);
      for (let k = 0; k <= random(4); k++) b[1 + random(b.length - 1)] = random(256);
      const cut = random(10) === 0 ? b.subarray(0, random(b.length)) : b;
      const full = parseTelemetry(cut);
      const read = parseTelemetryLazy(cut);
      expect(read.ok ? { ok: true, report: plainReport(read.report) } : read).toEqual(full);
    }
  });

  it('has a facts key that changes exactly with the session facts', () => {
    const base = lazy();
    const key = factsKeyOf(base) as Buffer;
    expect(key).toBeInstanceOf(Buffer);
    expect(factsKeyOf(parse())).toBeUndefined();
    expect(hasFactsKey(parse(), key)).toBe(false);
    // Progress and per-request values are not facts.
    expect(hasFactsKey(lazy({ nonce: 'ab'.repeat(16), create_order: 99, received_time_utc: '1800000000000000000', decision: 'invalid_request', journal: true }), key)).toBe(true);
    for (const change of [
      { hostname: 'gw-2' },
      { system_uptime: '86401' },
      { is_uat: true },
      { agreement_id: null },
      { process_start_time_utc: '1' },
      { config_hash: 'cd'.repeat(32) },
      { cpu_affinity: [0, 1, 2] },
      { cpuid: [1] },
      { users: '4' },
    ]) {
      expect(hasFactsKey(lazy(change), key)).toBe(false);
    }
  });

  it('never throws on corrupted bytes, and never accepts a U+0000', () => {
    const base = encodeTelemetryRecord(sampleTelemetryRecord({ hostname: 'gw-é' }));
    let seed = 7;
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2147483648), seed % n);
    let accepted = 0;
    const rejections = new Set<string>();
    const acceptedWithNul: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const b = Buffer.from(base);
      for (let k = 0; k <= random(4); k++) b[1 + random(b.length - 1)] = random(256);
      const cut = random(10) === 0 ? b.subarray(0, random(b.length)) : b;
      const result = parseTelemetry(cut); // a throw fails the test here
      if (!result.ok) {
        rejections.add(result.error.replace(/(?<!^v)\d+/g, 'N'));
        continue;
      }
      accepted += 1;
      for (const [field, v] of Object.entries(result.report)) if (typeof v === 'string' && v.includes('\u0000')) acceptedWithNul.push(`case ${i}: ${field}`);
    }
    expect(acceptedWithNul).toEqual([]);
    // Both outcomes occur, so the loop above checked something either way; every refusal is a v2 reason.
    expect(accepted).toBeGreaterThan(0);
    expect([...rejections].length).toBeGreaterThan(3);
    for (const reason of rejections) expect(reason).toMatch(/^v2: \S/);

    // The random bytes rarely hit a string: a NUL at the start of each non-empty string, field by field.
    const record = encodeTelemetryRecord(sampleTelemetryRecord({ agreement_id: 'acme', session_id: 's-1' }));
    let offset = 428;
    const checked: string[] = [];
    STRING_FIELDS.forEach((field, index) => {
      const length = record.readUInt16LE(384 + 2 * index);
      if (length > 0) {
        const b = Buffer.from(record);
        b[offset] = 0;
        expect({ field, result: parseTelemetry(b) }).toEqual({ field, result: { ok: false, error: `v2: ${field} contains U+0000` } });
        checked.push(field);
      }
      offset += length;
    });
    expect(checked.length).toBeGreaterThan(10);
  });
});

describe('reportDelta', () => {
  it('takes a first report as its own delta, then differences', () => {
    const first = reportDelta(undefined, parse({ create_order: 5, ...cumulativeBuckets('internal', [1, 2, 0, 0, 0, 0, 0], 1500) }));
    expect(first.restart).toBe(true);
    expect(deltaText(first, at('create_order'))).toBe('5');
    const second = reportDelta(first.state, parse2({ create_order: 8, ...cumulativeBuckets('internal', [1, 4, 1, 0, 0, 0, 0], 4000) }));
    expect(second.restart).toBe(false);
    expect(second.deltasBig).toBeUndefined();
    expect(second.deltas[at('create_order')]).toBe(3);
    expect(second.deltas[at('internal_latency_count_1us')]).toBe(2);
    expect(second.deltas[at('internal_latency_count_inf')]).toBe(3);
    expect(second.deltas[at('internal_latency_sum')]).toBe(2500);
  });

  it('treats a counter going down or a new process as a restart, never a negative delta', () => {
    const first = reportDelta(undefined, parse({ create_order: 50, cancel_order: 10 }));
    const down = reportDelta(first.state, parse({ create_order: 2, cancel_order: 20 }));
    expect(down.restart).toBe(true);
    expect(down.deltas[at('create_order')]).toBe(2);
    expect(down.deltas[at('cancel_order')]).toBe(20);
    const newProcess = reportDelta(first.state, parse({ create_order: 60, cancel_order: 10, process_id: 9 }));
    expect(newProcess.restart).toBe(true);
    expect(newProcess.deltas[at('create_order')]).toBe(60);
    const newStart = reportDelta(first.state, parse2({ create_order: 60, cancel_order: 10, process_start_time_utc: '1794990000000000001' }));
    expect(newStart.restart).toBe(true);
  });

  it('is exact beyond 2^53 (in bigint), and back in doubles when the deltas are small again', () => {
    const big = 2n ** 62n;
    const first = reportDelta(undefined, parse2({ create_order: (big + 1n).toString(), internal_latency_sum: '9007199254740993' }));
    expect(first.deltasBig?.[at('create_order')]).toBe(big + 1n);
    expect(deltaText(first, at('internal_latency_sum'))).toBe('9007199254740993');
    const second = reportDelta(first.state, parse({ create_order: (big + 8n).toString(), internal_latency_sum: '9007199254740995' }));
    expect(second.restart).toBe(false);
    expect(second.deltasBig).toBeUndefined();
    expect(second.deltas[at('create_order')]).toBe(7);
    expect(second.deltas[at('internal_latency_sum')]).toBe(2);
    const down = reportDelta(second.state, parse({ create_order: (big + 7n).toString() }));
    expect(down.restart).toBe(true);
    expect(deltaText(down, at('create_order'))).toBe((big + 7n).toString());
    expect(stateFromArray(stateToArray(first.state))).toEqual(first.state);
  });

  it('sums deltas exactly past 2^53', () => {
    const sums = new DeltaSums(2);
    sums.add(0, Number.MAX_SAFE_INTEGER);
    sums.add(0, 2);
    sums.add(1, 5);
    const other = new DeltaSums(2);
    other.addBig(1, 2n ** 63n);
    sums.merge(other);
    expect(sums.text(0)).toBe('9007199254740993');
    expect(sums.text(1)).toBe((2n ** 63n + 5n).toString());
  });

  it('round-trips the session state through a bigint array', () => {
    const { state } = reportDelta(undefined, parse({ create_order: 7 }));
    expect(stateFromArray(stateToArray(state))).toEqual(state);
    expect(stateFromArray(stateToArray(state).map((v) => BigInt(v)))).toEqual(state);
    expect(stateToArray(state)).toEqual([...CUMULATIVE_FIELDS.map((f) => (f === 'create_order' ? '7' : '0')), '4242', '1794990000000000000']);
    expect(stateFromArray([])).toBeUndefined();
    expect(stateFromArray(null)).toBeUndefined();
  });
});

describe('estimateQuantile (linear interpolation within the bucket)', () => {
  // Hand-computed case: 100 samples, per bucket 10, 30, 40, 15, 4, 1, 0 over bounds
  // 500, 1000, 2000, 5000, 10000, 20000 ns, +Inf. Cumulative: 10, 40, 80, 95, 99, 100, 100.
  //   p50: rank 50 -> (1000, 2000], 10 of its 40 samples in: 1000 + 1000 * 10/40 = 1250
  //   p90: rank 90 -> (2000, 5000], 10 of 15:                 2000 + 3000 * 10/15 = 4000
  //   p99: rank 99 -> (5000, 10000], 4 of 4:                  5000 + 5000 * 4/4  = 10000
  const cumulative = [10, 40, 80, 95, 99, 100, 100];
  it('matches the hand-computed p50, p90, p99', () => {
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, cumulative, 0.5)).toEqual({ value: 1250, overflow: false });
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, cumulative, 0.9)).toEqual({ value: 4000, overflow: false });
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, cumulative, 0.99)).toEqual({ value: 10000, overflow: false });
  });
  it('interpolates from 0 in the first bucket, reports overflow in +Inf, null without samples', () => {
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, [4, 4, 4, 4, 4, 4, 4], 0.5)).toEqual({ value: 250, overflow: false });
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, [0, 0, 0, 0, 0, 1, 2], 0.9)).toEqual({ value: 20000, overflow: true });
    expect(estimateQuantile(INTERNAL_BOUNDS_NS, [0, 0, 0, 0, 0, 0, 0], 0.5)).toBeNull();
  });
});

describe('signaturePayload', () => {
  it('is METHOD:path-with-query for a request without body', () => {
    expect(signaturePayload('get', '/v1/usage?from=2026-01-01T00:00:00Z&group_by=day')).toBe('GET:/v1/usage?from=2026-01-01T00:00:00Z&group_by=day');
  });
  it('appends the body parameters sorted by key, nulls left out', () => {
    expect(signaturePayload('POST', '/v1/x?a=1', { b: 2, a: 'x', c: null, d: true })).toBe('POST:/v1/x?a=1:a=x&b=2&d=true');
  });
});
