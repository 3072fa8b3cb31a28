/**
 * HSalsa20 (crypto_core_hsalsa20): turns the X25519 shared secret into the XSalsa20-Poly1305 key, as
 * libsodium's crypto_box_beforenm does with a zero input and the "expand 32-byte k" constant.
 */
const SIGMA = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];

function load32(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 24)) >>> 0;
}

function rotl(value: number, shift: number): number {
  return ((value << shift) | (value >>> (32 - shift))) >>> 0;
}

export function hsalsa20(key: Uint8Array, input: Uint8Array): Uint8Array {
  const x = new Uint32Array(16);
  x[0] = SIGMA[0] ?? 0;
  x[5] = SIGMA[1] ?? 0;
  x[10] = SIGMA[2] ?? 0;
  x[15] = SIGMA[3] ?? 0;
  for (let i = 0; i < 4; i++) {
    x[1 + i] = load32(key, 4 * i);
    x[11 + i] = load32(key, 16 + 4 * i);
    x[6 + i] = load32(input, 4 * i);
  }
  const quarter = (a: number, b: number, c: number, d: number): void => {
    x[b] = (x[b] ?? 0) ^ rotl(((x[a] ?? 0) + (x[d] ?? 0)) >>> 0, 7);
    x[c] = (x[c] ?? 0) ^ rotl(((x[b] ?? 0) + (x[a] ?? 0)) >>> 0, 9);
    x[d] = (x[d] ?? 0) ^ rotl(((x[c] ?? 0) + (x[b] ?? 0)) >>> 0, 13);
    x[a] = (x[a] ?? 0) ^ rotl(((x[d] ?? 0) + (x[c] ?? 0)) >>> 0, 18);
  };
  for (let round = 0; round < 20; round += 2) {
    quarter(0, 4, 8, 12); // columns
    quarter(5, 9, 13, 1);
    quarter(10, 14, 2, 6);
    quarter(15, 3, 7, 11);
    quarter(0, 1, 2, 3); // rows
    quarter(5, 6, 7, 4);
    quarter(10, 11, 8, 9);
    quarter(15, 12, 13, 14);
  }
  const out = new Uint8Array(32);
  const view = new DataView(out.buffer);
  [0, 5, 10, 15, 6, 7, 8, 9].forEach((word, i) => view.setUint32(4 * i, x[word] ?? 0, true));
  return out;
}
