import nacl from 'tweetnacl';
import { BoxSecretKey, SigningKey, VerifyKey, configHash } from '@license-ledger/protocol-crypto';
import { decodeSealed, decodeSignedToken, type AccessToken } from '@license-ledger/protocol-wire';
import { TOKEN_SIGNATURE_CONTEXT, TokenRejectedError, openSupportToken, sealSupportToken } from './index';

const random = (length: number): Uint8Array => nacl.randomBytes(length);
const gateway = BoxSecretKey.generate(random);
const support = SigningKey.generate(random);
const server = SigningKey.generate(random);
const hash = configHash('fix-gateway', ['A1', 'B2']);
const NOW = 1_800_000_000_000_000_000n;
const HOUR_NS = 3_600_000_000_000n;

const token: AccessToken = {
  tokenId: 'support-7f1c',
  agreementId: 'acme',
  gatewayPublicKey: gateway.publicKey,
  configHash: hash,
  packageName: 'fix-gateway',
  issuedTimeUtc: NOW,
  expiryTimeUtc: NOW + 72n * HOUR_NS,
  nonce: random(16),
  renewTimeUtc: NOW + 36n * HOUR_NS,
};
const expected = { configHash: hash, packageName: 'fix-gateway' };
const supportVerifyKey = VerifyKey.fromBytes(support.publicKey);

describe('support tokens', () => {
  it('open with the gateway key and verify with the support key: the same AccessToken', () => {
    const body = sealSupportToken({ token, signingKey: support, random });
    expect(openSupportToken({ body, gatewayKey: gateway, supportVerifyKey, expected })).toEqual(token);
  });

  it('are a Sealed from a one-off key, which libsodium-compatible code opens to a SignedToken named by the support key id', () => {
    const body = sealSupportToken({ token, signingKey: support, random });
    const sealed = decodeSealed(body);
    const other = decodeSealed(sealSupportToken({ token, signingKey: support, random }));
    expect(sealed.publicKey).not.toEqual(other.publicKey);
    // tweetnacl, independently of our crypto: crypto_box_open_easy with the gateway's secret key.
    const payload = nacl.box.open(sealed.box, sealed.nonce, sealed.publicKey, gateway.secretKey);
    expect(payload).not.toBeNull();
    const signed = decodeSignedToken(payload as Uint8Array);
    expect(signed.keyId).toBe(support.keyId);
    const message = new Uint8Array([...new TextEncoder().encode(TOKEN_SIGNATURE_CONTEXT), ...signed.token]);
    expect(nacl.sign.detached.verify(message, signed.signature, support.publicKey)).toBe(true);
  });

  it('are refused when signed by another key (say the server’s: support tokens are trusted only from the support key)', () => {
    const body = sealSupportToken({ token, signingKey: server, random });
    expect(() => openSupportToken({ body, gatewayKey: gateway, supportVerifyKey, expected })).toThrow(/signed by key id ".*", not by the configured support signing key/);
  });

  it('are refused for another gateway, another config or package, and when altered', () => {
    const body = sealSupportToken({ token, signingKey: support, random });
    const stranger = BoxSecretKey.generate(random);
    expect(() => openSupportToken({ body, gatewayKey: stranger, supportVerifyKey, expected })).toThrow(/does not open with this gateway key/);
    expect(() => openSupportToken({ body, gatewayKey: gateway, supportVerifyKey, expected: { ...expected, configHash: configHash('fix-gateway', ['A1']) } })).toThrow(/config hash differs/);
    expect(() => openSupportToken({ body, gatewayKey: gateway, supportVerifyKey, expected: { ...expected, packageName: 'ouch' } })).toThrow(/package "fix-gateway", not "ouch"/);
    const altered = body.slice();
    altered[altered.length - 5] = (altered[altered.length - 5] ?? 0) ^ 1;
    expect(() => openSupportToken({ body: altered, gatewayKey: gateway, supportVerifyKey, expected })).toThrow(TokenRejectedError);
    expect(() => openSupportToken({ body: new Uint8Array([1, 2, 3]), gatewayKey: gateway, supportVerifyKey, expected })).toThrow(/not a valid sealed support token/);
  });

  it('are valid for at most 30 days after their issue', () => {
    const days = (n: bigint): bigint => n * 24n * HOUR_NS;
    const thirty = sealSupportToken({ token: { ...token, expiryTimeUtc: NOW + days(30n) }, signingKey: support, random });
    expect(openSupportToken({ body: thirty, gatewayKey: gateway, supportVerifyKey, expected }).expiryTimeUtc).toBe(NOW + days(30n));
    const longer = sealSupportToken({ token: { ...token, expiryTimeUtc: NOW + days(30n) + 1_000_000n }, signingKey: support, random });
    expect(() => openSupportToken({ body: longer, gatewayKey: gateway, supportVerifyKey, expected })).toThrow('support token is valid for 2592000001 ms after its issue; a support token may run at most 30 days');
  });
});
