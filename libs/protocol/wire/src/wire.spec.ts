import { readFileSync } from 'node:fs';
import * as flatbuffers from 'flatbuffers';
import { join } from 'node:path';
import {
  WireFormatError,
  accessTokenFields,
  decodeAccessToken,
  decodeLicenseRequest,
  decodeSealed,
  decodeSignedToken,
  encodeAccessToken,
  encodeLicenseRequest,
  encodeSealed,
  encodeSignedToken,
  exampleLicenseRequest,
  licenseRequestFields,
  sealedFields,
  signedTokenFields,
  type AccessToken,
  type FieldKind,
} from './index';
import * as fb from './generated/license_generated';

const schema = readFileSync(join(__dirname, '..', 'schema', 'license.fbs'), 'utf8');
const fbsKind: Record<string, FieldKind> = { int64: 'i64', uint64: 'u64', bool: 'bool', string: 'str', '[ubyte]': 'bytes', '[uint32]': 'u32s' };

function schemaFields(table: string): Array<[string, FieldKind | undefined]> {
  const body = new RegExp(`table ${table} \\{([\\s\\S]*?)\\n\\}`).exec(schema)?.[1] ?? '';
  return [...body.matchAll(/^\s*(\w+): ([[\]\w]+)/gm)].map((m) => [m[1] ?? '', fbsKind[m[2] ?? '']]);
}

/** The field list of issue #3, in its order: the contract gateways are built against. */
const issueFieldNames = `request_time_utc, token_expiry_time_utc, nonce, package_name, package_version, package_build_number, package_build_host, hostname, network_hostname, machine_id, machine, cpuid, cpu_vendor, cpu_brand, number_of_processors, cache_line_size, page_size, kernel_name, kernel_release, kernel_version, system_uptime, system_total_memory, system_available_memory, system_total_swap, system_available_swap, process_id, process_start_time_utc, process_max_rss, service_name, api_name, api, instance, session_id, is_uat, cpu_affinity, symbols, total_symbols, config_hash, accounts, users, create_order, modify_order, cancel_order, cancel_all_orders, mass_quote, cancel_quotes, please_report, please_report_details, download_trades, download_orders, event_log, position_manager, risk_manager, journal, udp_publish, internal_latency_sum, internal_latency_count_500ns, internal_latency_count_1us, internal_latency_count_2us, internal_latency_count_5us, internal_latency_count_10us, internal_latency_count_20us, internal_latency_count_inf, external_latency_sum, external_latency_count_10us, external_latency_count_100us, external_latency_count_1ms, external_latency_count_10ms, external_latency_count_100ms, external_latency_count_1s, external_latency_count_inf`.split(', ');

const exampleToken: AccessToken = {
  tokenId: 'tok-0001',
  agreementId: 'agr-42',
  gatewayPublicKey: new Uint8Array(32).fill(7),
  configHash: new Uint8Array(32).fill(9),
  packageName: 'fix-gateway',
  issuedTimeUtc: 1_767_225_600_000_000_000n,
  expiryTimeUtc: 1_767_232_800_000_000_000n,
  nonce: new Uint8Array(16).fill(3),
  renewTimeUtc: 1_767_227_400_000_000_000n,
};

describe('schema and code agree', () => {
  it('names LicenseRequest fields exactly as the issue lists them, in that order', () => {
    expect(licenseRequestFields.map(([name]) => name)).toEqual(issueFieldNames);
  });

  it.each([
    ['LicenseRequest', licenseRequestFields],
    ['AccessToken', accessTokenFields],
    ['SignedToken', signedTokenFields],
    ['Sealed', sealedFields],
  ] as const)('%s field kinds match schema/license.fbs slot by slot', (table, fields) => {
    expect(fields.map(([name, kind]) => [name, kind])).toEqual(schemaFields(table));
  });
});

describe('LicenseRequest', () => {
  it('round-trips every field', () => {
    const request = exampleLicenseRequest();
    expect(decodeLicenseRequest(encodeLicenseRequest(request))).toEqual(request);
  });

  it('round-trips defaults, empty strings and extreme int64/uint64 values', () => {
    const request = exampleLicenseRequest({
      requestTimeUtc: -(1n << 63n),
      tokenExpiryTimeUtc: (1n << 63n) - 1n,
      systemTotalMemory: (1n << 64n) - 1n,
      processId: 0n,
      packageVersion: '',
      cpuid: [],
      cpuAffinity: [0, 0xffffffff],
      isUat: false,
      hostname: 'hôte-ü-日本',
    });
    expect(decodeLicenseRequest(encodeLicenseRequest(request))).toEqual(request);
  });

  it('decodes from a buffer that is not 4-byte aligned (Node Buffer pool slices)', () => {
    const bytes = encodeLicenseRequest(exampleLicenseRequest());
    const shifted = new Uint8Array(bytes.byteLength + 1).subarray(1);
    shifted.set(bytes);
    expect(decodeLicenseRequest(shifted)).toEqual(exampleLicenseRequest());
  });

  it.each([
    ['nonce', { nonce: new Uint8Array(15) }, /nonce must be 16 bytes, got 15/],
    ['config hash', { configHash: new Uint8Array(31) }, /config_hash must be 32 bytes, got 31/],
    ['package name', { packageName: '' }, /package_name must not be empty/],
    ['int64 range', { requestTimeUtc: 1n << 63n }, /request_time_utc = 9223372036854775808 does not fit in int64/],
    ['uint64 sign', { processId: -1n }, /process_id = -1 does not fit in uint64/],
    ['uint32 range', { cpuid: [1.5] }, /cpuid holds 1.5, which is not a uint32/],
  ])('refuses to encode a bad %s', (_name, overrides, message) => {
    expect(() => encodeLicenseRequest(exampleLicenseRequest(overrides))).toThrow(message);
  });

  it('rejects a buffer without a required field', () => {
    const builder = new flatbuffers.Builder(64);
    const nonce = fb.LicenseRequest.createNonceVector(builder, new Uint8Array(16));
    const configHash = fb.LicenseRequest.createConfigHashVector(builder, new Uint8Array(32));
    fb.LicenseRequest.startLicenseRequest(builder);
    fb.LicenseRequest.addNonce(builder, nonce);
    fb.LicenseRequest.addConfigHash(builder, configHash);
    builder.finish(builder.endObject()); // endLicenseRequest would refuse it, as it should
    expect(() => decodeLicenseRequest(builder.asUint8Array())).toThrow('not a valid LicenseRequest: required field package_name is missing');
  });

  it('rejects another table whose fields do not fit', () => {
    const sealed = encodeSealed({ publicKey: new Uint8Array(32), nonce: new Uint8Array(24), box: new Uint8Array(16) });
    expect(() => decodeLicenseRequest(sealed)).toThrow(WireFormatError);
  });

  it('rejects invalid UTF-8', () => {
    const bytes = encodeLicenseRequest(exampleLicenseRequest({ hostname: 'abc' }));
    const at = Buffer.from(bytes).indexOf('abc');
    bytes[at] = 0xff;
    expect(() => decodeLicenseRequest(bytes)).toThrow('LicenseRequest.hostname is not valid UTF-8');
  });

  it('rejects every truncation with WireFormatError', () => {
    const bytes = encodeLicenseRequest(exampleLicenseRequest());
    for (let length = 0; length < bytes.byteLength; length += 7) {
      expect(() => decodeLicenseRequest(bytes.subarray(0, length))).toThrow(WireFormatError);
    }
  });

  it('never fails with anything but WireFormatError on corrupted bytes, and decodes only what it could encode', () => {
    const original = encodeLicenseRequest(exampleLicenseRequest());
    let seed = 12345;
    const next = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    let decoded = 0;
    const otherErrors: string[] = [];
    const rejections = new Set<string>();
    for (let round = 0; round < 3000; round++) {
      const bytes = original.slice();
      for (let flips = 1 + (next() % 4); flips > 0; flips--) bytes[next() % bytes.length] = next() % 256;
      let request: ReturnType<typeof decodeLicenseRequest>;
      try {
        request = decodeLicenseRequest(bytes);
      } catch (error: unknown) {
        if (error instanceof WireFormatError) rejections.add(error.message);
        else otherErrors.push(`round ${round}: ${String(error)}`);
        continue;
      }
      decoded += 1;
      // What the decoder lets through satisfies the encoder's rules and survives a round trip.
      expect(decodeLicenseRequest(encodeLicenseRequest(request))).toEqual(request);
    }
    expect(otherErrors).toEqual([]);
    // Flips that hit only values decode, the others are refused: both happen, and every refusal names the table.
    expect(decoded).toBeGreaterThan(100);
    expect(rejections.size).toBeGreaterThan(10);
    for (const message of rejections) expect(message).toMatch(/LicenseRequest/);
  });
});

describe('AccessToken, SignedToken, Sealed', () => {
  it('round-trip', () => {
    expect(decodeAccessToken(encodeAccessToken(exampleToken))).toEqual(exampleToken);
    const signed = { token: encodeAccessToken(exampleToken), signature: new Uint8Array(64).fill(1), keyId: 'abcdef0123456789' };
    expect(decodeSignedToken(encodeSignedToken(signed))).toEqual(signed);
    const sealed = { publicKey: new Uint8Array(32).fill(2), nonce: new Uint8Array(24).fill(4), box: new Uint8Array(100).fill(5) };
    expect(decodeSealed(encodeSealed(sealed))).toEqual(sealed);
  });

  it('enforce lengths and rules', () => {
    expect(() => encodeAccessToken({ ...exampleToken, gatewayPublicKey: new Uint8Array(31) })).toThrow('AccessToken.gateway_public_key must be 32 bytes, got 31');
    expect(() => encodeAccessToken({ ...exampleToken, expiryTimeUtc: exampleToken.issuedTimeUtc })).toThrow(/expiry_time_utc .* must be after issued_time_utc/);
    expect(() => encodeSignedToken({ token: new Uint8Array(8), signature: new Uint8Array(63), keyId: 'k' })).toThrow('SignedToken.signature must be 64 bytes, got 63');
    expect(() => encodeSealed({ publicKey: new Uint8Array(32), nonce: new Uint8Array(12), box: new Uint8Array(16) })).toThrow('Sealed.nonce must be 24 bytes, got 12');
    expect(() => encodeSealed({ publicKey: new Uint8Array(32), nonce: new Uint8Array(24), box: new Uint8Array(15) })).toThrow('Sealed.box must be at least 16 bytes, got 15');
  });

  it('reject garbage with WireFormatError', () => {
    for (const decode of [decodeAccessToken, decodeSignedToken, decodeSealed]) {
      expect(() => decode(new Uint8Array(0))).toThrow(WireFormatError);
      expect(() => decode(Uint8Array.from([0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0]))).toThrow(WireFormatError);
      expect(() => decode(new TextEncoder().encode('{"json": "not flatbuffers"}'))).toThrow(WireFormatError);
    }
  });
});
