import * as flatbuffers from 'flatbuffers';
import * as fb from './generated/license_generated';
import {
  MAX_TEXT_BYTES,
  WireFormatError,
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
  unstorableText,
  type LicenseRequest,
} from './index';

const camel = (snake: string): string => snake.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const stringFields = licenseRequestFields.filter(([, kind]) => kind === 'str').map(([wire]) => wire);

/** A LicenseRequest whose `field` holds `marker`, encoded; and where the marker's bytes are. */
function encodedWith(field: string, marker: string): { bytes: Uint8Array; at: number } {
  const bytes = encodeLicenseRequest(exampleLicenseRequest({ [camel(field)]: marker } as Partial<LicenseRequest>));
  const at = Buffer.from(bytes).indexOf(marker);
  if (at < 0) throw new Error(`marker of ${field} not found`);
  return { bytes, at };
}

/** A minimal LicenseRequest with a hostname the encoder would refuse, written with the raw builder. */
function rawRequestWithHostname(hostname: Uint8Array): Uint8Array {
  const builder = new flatbuffers.Builder(1024);
  const nonce = fb.LicenseRequest.createNonceVector(builder, new Uint8Array(16));
  const packageName = builder.createString('p');
  const host = builder.createString(hostname);
  const configHash = fb.LicenseRequest.createConfigHashVector(builder, new Uint8Array(32));
  fb.LicenseRequest.startLicenseRequest(builder);
  fb.LicenseRequest.addNonce(builder, nonce);
  fb.LicenseRequest.addPackageName(builder, packageName);
  fb.LicenseRequest.addHostname(builder, host);
  fb.LicenseRequest.addConfigHash(builder, configHash);
  builder.finish(fb.LicenseRequest.endLicenseRequest(builder));
  return builder.asUint8Array().slice();
}

describe('strings PostgreSQL cannot store', () => {
  it('are told apart from storable ones', () => {
    for (const ok of ['', 'gw-1', 'hôte-日本', '\ud83d\ude00', 'x'.repeat(MAX_TEXT_BYTES), 'é'.repeat(MAX_TEXT_BYTES / 2)]) expect([ok, unstorableText(ok)]).toEqual([ok, null]);
    expect(unstorableText('gw\u0000-1')).toBe('contains U+0000 (NUL) at character 2');
    expect(unstorableText('a\ud800')).toBe('contains a lone UTF-16 surrogate at character 1');
    expect(unstorableText('\udc00b')).toBe('contains a lone UTF-16 surrogate at character 0');
    expect(unstorableText('\ude00\ud83d')).toMatch(/lone UTF-16 surrogate at character 0/);
    expect(unstorableText('x'.repeat(MAX_TEXT_BYTES + 1))).toBe(`is longer than ${MAX_TEXT_BYTES} bytes of UTF-8`);
    expect(unstorableText(`${'é'.repeat(MAX_TEXT_BYTES / 2)}x`)).toBe(`is longer than ${MAX_TEXT_BYTES} bytes of UTF-8`);
  });

  it.each(stringFields)('are refused in %s by the encoder and the decoder', (field) => {
    expect(() => encodeLicenseRequest(exampleLicenseRequest({ [camel(field)]: 'a\u0000b' } as Partial<LicenseRequest>))).toThrow(
      `LicenseRequest.${field} contains U+0000 (NUL) at character 1, which the license service cannot store`,
    );
    expect(() => encodeLicenseRequest(exampleLicenseRequest({ [camel(field)]: 'a\ud800' } as Partial<LicenseRequest>))).toThrow(`LicenseRequest.${field} contains a lone UTF-16 surrogate`);
    expect(() => encodeLicenseRequest(exampleLicenseRequest({ [camel(field)]: 'y'.repeat(MAX_TEXT_BYTES + 1) } as Partial<LicenseRequest>))).toThrow(
      `LicenseRequest.${field} is longer than ${MAX_TEXT_BYTES} bytes of UTF-8`,
    );
    // On the wire: a zero byte inside the string is valid UTF-8 (U+0000) and must still be refused.
    const { bytes, at } = encodedWith(field, 'NULHERE');
    bytes[at + 3] = 0;
    expect(() => decodeLicenseRequest(bytes)).toThrow(`LicenseRequest.${field} contains U+0000 (NUL) at character 3`);
  });

  it('are refused on the wire when too long or an encoded surrogate', () => {
    expect(decodeLicenseRequest(rawRequestWithHostname(new TextEncoder().encode('h'.repeat(MAX_TEXT_BYTES)))).hostname).toHaveLength(MAX_TEXT_BYTES);
    expect(() => decodeLicenseRequest(rawRequestWithHostname(new TextEncoder().encode('h'.repeat(MAX_TEXT_BYTES + 1))))).toThrow(
      `LicenseRequest.hostname is longer than ${MAX_TEXT_BYTES} bytes of UTF-8`,
    );
    // U+D800 spelled in UTF-8 (CESU style) is not UTF-8 at all.
    expect(() => decodeLicenseRequest(rawRequestWithHostname(Uint8Array.from([0x67, 0xed, 0xa0, 0x80])))).toThrow('LicenseRequest.hostname is not valid UTF-8');
  });
});

describe('bytes after the message', () => {
  const sealed = encodeSealed({ publicKey: new Uint8Array(32).fill(1), nonce: new Uint8Array(24).fill(2), box: new Uint8Array(40).fill(3) });
  const withTail = (bytes: Uint8Array, tail: number[]): Uint8Array => Uint8Array.from([...bytes, ...tail]);

  it.each([
    ['one zero byte', [0], '1 byte follows the end of the message'],
    ['four zero bytes', [0, 0, 0, 0], '4 bytes follow the end of the message'],
    ['a byte of garbage', [0x41], '1 byte follows the end of the message'],
    ['another Sealed', [...sealed], `${sealed.byteLength} bytes follow the end of the message`],
  ])('are refused after a Sealed: %s', (_what, tail, message) => {
    expect(() => decodeSealed(withTail(sealed, tail))).toThrow(new WireFormatError(`not a valid Sealed: ${message}`));
  });

  it('are refused after every other message', () => {
    const request = encodeLicenseRequest(exampleLicenseRequest());
    expect(() => decodeLicenseRequest(withTail(request, [0, 0, 0, 0, 0, 0, 0, 0]))).toThrow('not a valid LicenseRequest: 8 bytes follow the end of the message');
    const token = encodeAccessToken({
      tokenId: 't',
      agreementId: 'a',
      gatewayPublicKey: new Uint8Array(32),
      configHash: new Uint8Array(32),
      packageName: 'p',
      issuedTimeUtc: 1n,
      expiryTimeUtc: 2n,
      nonce: new Uint8Array(16),
      renewTimeUtc: 1n,
    });
    // Its first string ends 2 bytes short of a multiple of 4: the builder's padding counts as well.
    expect(() => decodeAccessToken(withTail(token, [7]))).toThrow('not a valid AccessToken: 3 bytes follow the end of the message');
    const signed = encodeSignedToken({ token, signature: new Uint8Array(64), keyId: 'k' });
    expect(() => decodeSignedToken(withTail(signed, [0, 0, 0, 0]))).toThrow('not a valid SignedToken: 4 bytes follow the end of the message');
  });

  it('may be the zero padding another builder writes after its first vector', () => {
    // A builder that writes the box first (an odd length) pads the end of the buffer to 4 bytes.
    for (let boxLength = 16; boxLength < 24; boxLength++) {
      const builder = new flatbuffers.Builder(128);
      const box = fb.Sealed.createBoxVector(builder, new Uint8Array(boxLength).fill(9));
      const publicKey = fb.Sealed.createPublicKeyVector(builder, new Uint8Array(32).fill(1));
      const nonce = fb.Sealed.createNonceVector(builder, new Uint8Array(24).fill(2));
      builder.finish(fb.Sealed.createSealed(builder, publicKey, nonce, box));
      const bytes = builder.asUint8Array().slice();
      expect(decodeSealed(bytes).box).toEqual(new Uint8Array(boxLength).fill(9));
      // ...but only that padding, and only zeros.
      if (boxLength % 4 !== 0) {
        const dirty = bytes.slice();
        dirty[dirty.length - 1] = 1;
        expect(() => decodeSealed(dirty)).toThrow(/follows? the end of the message/);
      }
      expect(() => decodeSealed(withTail(bytes, [0, 0, 0, 0]))).toThrow(/follow the end of the message/);
    }
  });
});
