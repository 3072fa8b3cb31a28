/**
 * Hostile bodies for the license endpoint: random bytes, mutated envelopes, and correctly sealed
 * boxes whose payloads carry what later stages cannot take (U+0000, lone surrogates, extreme
 * integers, huge strings and vectors, flipped bytes). Deterministic for a given seed.
 */
import { BoxSecretKey, sealWithSharedKey } from '@license-ledger/protocol-crypto';
import { encodeLicenseRequest, encodeSealed, exampleLicenseRequest, type LicenseRequest } from '@license-ledger/protocol-wire';
import { sealedRequest } from './load';

/** A small seeded generator (mulberry32): a failing case can be replayed from its seed. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface FuzzBody {
  readonly kind: 'random bytes' | 'mutated envelope' | 'mutated payload';
  readonly body: Uint8Array;
}

const U64_MAX = 2n ** 64n - 1n;
const MARKER = 'MARKERMARKER';

/**
 * Payload mutations a sealed box may carry; each is a request a gateway could (maliciously) send.
 * Our encoder refuses unstorable strings, so those are written over a marker in valid bytes.
 */
function payloadVariants(now: bigint): Array<Partial<LicenseRequest> | ((bytes: Uint8Array) => Uint8Array)> {
  const marker = new TextEncoder().encode(MARKER);
  const overMarker = (bytes: readonly number[]) => (payload: Uint8Array): Uint8Array => {
    for (let i = 0; i + marker.length <= payload.length; i++) {
      if (marker.every((b, j) => payload[i + j] === b)) {
        const out = Uint8Array.from(payload);
        bytes.forEach((b, j) => (out[i + j] = b));
        return out;
      }
    }
    throw new Error('marker not found in the encoded request');
  };
  const times = { requestTimeUtc: now, tokenExpiryTimeUtc: now + 3_600_000_000_000n };
  const A = 0x41;
  return [
    overMarker([0x67, 0x77, 0x00, A, A, A, A, A, A, A, A, A]), // U+0000
    overMarker([0xed, 0xa0, 0x80, A, A, A, A, A, A, A, A, A]), // a lone surrogate (CESU-8)
    overMarker([0xff, 0xfe, 0x00, 0xc0, 0x80, A, A, A, A, A, A, A]), // not UTF-8 at all
    overMarker([0xc3, A, A, A, A, A, A, A, A, A, A, A]), // a cut multi-byte sequence
    { ...times, processId: U64_MAX, symbols: U64_MAX, createOrder: U64_MAX, systemTotalMemory: U64_MAX },
    { ...times, requestTimeUtc: 2n ** 63n - 1n },
    { ...times, requestTimeUtc: -1n },
    { ...times, tokenExpiryTimeUtc: 0n },
    { ...times, hostname: 'h'.repeat(256) },
    { ...times, cpuid: Array.from({ length: 1_500 }, (_, i) => i) },
    { ...times, cpuAffinity: Array.from({ length: 1_500 }, (_, i) => i) },
  ];
}

function sealPayload(gateway: BoxSecretKey, serverBoxPublicKey: Uint8Array, payload: Uint8Array, random: () => number): Uint8Array {
  const nonce = Uint8Array.from({ length: 24 }, () => Math.floor(random() * 256));
  return encodeSealed({ publicKey: gateway.publicKey, nonce, box: sealWithSharedKey(payload, nonce, gateway.sharedKey(serverBoxPublicKey)) });
}

export function fuzzBodies(seed: number, gateway: BoxSecretKey, serverBoxPublicKey: Uint8Array, each: number): FuzzBody[] {
  const random = seededRandom(seed);
  const byte = (): number => Math.floor(random() * 256);
  const bodies: FuzzBody[] = [];
  for (let i = 0; i < each; i++) {
    bodies.push({ kind: 'random bytes', body: Uint8Array.from({ length: Math.floor(random() * 2_000) }, byte) });
  }
  for (let i = 0; i < each; i++) {
    const valid = Uint8Array.from(sealedRequest(gateway, serverBoxPublicKey).body);
    const choice = Math.floor(random() * 3);
    let body: Uint8Array;
    if (choice === 0) {
      body = valid;
      for (let flips = 1 + Math.floor(random() * 4); flips > 0; flips--) {
        const at = Math.floor(random() * body.length);
        body[at] = (body[at] ?? 0) ^ (1 << Math.floor(random() * 8));
      }
    } else if (choice === 1) {
      body = valid.subarray(0, Math.floor(random() * valid.length));
    } else {
      body = Uint8Array.from([...valid, ...Array.from({ length: 1 + Math.floor(random() * 64) }, byte)]);
    }
    bodies.push({ kind: 'mutated envelope', body });
  }
  const now = BigInt(Date.now()) * 1_000_000n;
  const variants = payloadVariants(now);
  for (let i = 0; i < each; i++) {
    const variant = variants[i % variants.length] as (typeof variants)[number];
    const base = exampleLicenseRequest({ requestTimeUtc: now, tokenExpiryTimeUtc: now + 3_600_000_000_000n, nonce: Uint8Array.from({ length: 16 }, byte) });
    let payload: Uint8Array;
    if (typeof variant === 'function') {
      // The marker goes into a different string field each time.
      const field = (['hostname', 'sessionId', 'packageName', 'kernelVersion'] as const)[i % 4] as 'hostname';
      payload = variant(encodeLicenseRequest({ ...base, [field]: MARKER }));
    } else {
      payload = encodeLicenseRequest({ ...base, ...variant });
    }
    // Every third one also gets a flipped byte inside the (valid) box.
    if (i % 3 === 2) {
      payload = Uint8Array.from(payload);
      const at = Math.floor(random() * payload.length);
      payload[at] = (payload[at] ?? 0) ^ 0xff;
    }
    bodies.push({ kind: 'mutated payload', body: sealPayload(gateway, serverBoxPublicKey, payload, random) });
  }
  return bodies;
}
