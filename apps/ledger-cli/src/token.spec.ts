import { SUPPORT_LOCK_MAX_MS } from '@license-ledger/lease-domain';
import { fromHex } from '@license-ledger/protocol-crypto';
import { SUPPORT_TOKEN_MAX_VALIDITY_MS } from '@license-ledger/protocol-exchange';
import { supportAccessToken, type TokenIssueCommand } from './token';

const KEY = Buffer.alloc(32, 4).toString('base64');
const HASH = 'c0'.repeat(32);
const T0 = Date.UTC(2026, 5, 1);

const command: TokenIssueCommand = {
  agreementId: 'acme',
  key: KEY,
  packageName: 'fix-gateway',
  configHash: HASH,
  untilMs: T0 + 72 * 3_600_000,
  reason: 'ingress down',
  issuedBy: 'alice',
  overdraft: false,
  out: 'acme.token',
  signKeyFile: 'support-sign.key',
  requestId: undefined,
  timeoutMs: 30_000,
};

describe('support tokens from ledger-cli', () => {
  it('gateways accept support tokens exactly as long as the ledger lets a support lock run', () => {
    expect(SUPPORT_TOKEN_MAX_VALIDITY_MS).toBe(SUPPORT_LOCK_MAX_MS);
  });

  it('builds the AccessToken the ingress would, for the decided lock: named by its request id, renewable from half its life', () => {
    const token = supportAccessToken(command, 'support-1', T0, (length) => new Uint8Array(length).fill(7));
    expect(token).toEqual({
      tokenId: 'support-1',
      agreementId: 'acme',
      gatewayPublicKey: new Uint8Array(Buffer.from(KEY, 'base64')),
      configHash: fromHex(HASH),
      packageName: 'fix-gateway',
      issuedTimeUtc: BigInt(T0) * 1_000_000n,
      expiryTimeUtc: BigInt(T0 + 72 * 3_600_000) * 1_000_000n,
      nonce: new Uint8Array(16).fill(7),
      renewTimeUtc: BigInt(T0 + 36 * 3_600_000) * 1_000_000n,
    });
  });
});
