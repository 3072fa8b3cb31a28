import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { BoxSecretKey, SigningKey, configHash, readBoxSecretKeyFile, toBase64 } from '@license-ledger/protocol-crypto';
import { sealSupportToken } from '@license-ledger/protocol-exchange';
import type { AccessToken } from '@license-ledger/protocol-wire';
import { runCli, type CliEnvironment } from './cli';
import { collectHostFacts } from './host-facts';

/*
 * Support tokens in the reference client: imported with --token-file (or dropped into the state
 * directory), verified with the configured support key, and run on while no server answers.
 */

const SECOND = 1_000_000_000n;
const HOUR = 3_600n * SECOND;
const START = 1_767_225_600n * SECOND; // 2026-01-01T00:00:00Z
const random = (length: number): Uint8Array => nacl.randomBytes(length);
const iso = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString();

describe('gateway-client with a support token', () => {
  const support = SigningKey.generate(random);
  const serverBox = BoxSecretKey.generate(random);
  const serverSign = SigningKey.generate(random);
  let dir: string;
  let lines: string[];
  let now: bigint;
  let posts: number;
  let gatewayPublicKey: Uint8Array;
  const configPath = (): string => join(dir, 'gateway.toml');
  const keyPath = (): string => join(dir, 'keys', 'gateway.key');

  const writeConfig = (supportKey: Uint8Array | undefined): void => {
    writeFileSync(
      configPath(),
      `[license]
package_name = "fix-gateway"
servers = ["http://license.invalid:8443"]
server_box_public_key = "${toBase64(serverBox.publicKey)}"
server_sign_public_key = "${toBase64(serverSign.publicKey)}"
${supportKey ? `support_sign_public_key = "${toBase64(supportKey)}"` : ''}
state_dir = "state"
startup_grace_seconds = 60
retry_interval_seconds = 600

[accounts.primary]
login = "A1"
`,
    );
  };

  /** Runs the CLI on a fake clock; every license server is unreachable. */
  const run = async (args: string[], stopAtNs?: bigint): Promise<number> => {
    const controller = new AbortController();
    const env: CliEnvironment = {
      clock: { nowNs: () => now },
      sleep: async (ms) => {
        now += BigInt(ms) * 1_000_000n;
        if (stopAtNs !== undefined && now >= stopAtNs) controller.abort();
      },
      random,
      post: async () => {
        posts++;
        throw new Error('connect ECONNREFUSED (ingress down)');
      },
      hostFacts: collectHostFacts,
      signal: controller.signal,
      out: (line) => lines.push(line),
      err: (line) => lines.push(line),
    };
    return runCli(args, env);
  };

  const supportToken = (overrides: Partial<AccessToken> = {}, signingKey = support): string => {
    const token: AccessToken = {
      tokenId: 'support-1',
      agreementId: 'acme',
      gatewayPublicKey,
      configHash: configHash('fix-gateway', ['A1']),
      packageName: 'fix-gateway',
      issuedTimeUtc: START,
      expiryTimeUtc: START + 48n * HOUR,
      nonce: random(16),
      renewTimeUtc: START + 24n * HOUR,
      ...overrides,
    };
    const path = join(dir, `support-${Math.random().toString(16).slice(2)}.token`);
    writeFileSync(path, sealSupportToken({ token, signingKey, random }));
    return path;
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(os.tmpdir(), 'gateway-support-'));
    lines = [];
    now = START;
    posts = 0;
    writeConfig(support.publicKey);
    expect(await run(['keygen', '--out', join(dir, 'keys')])).toBe(0);
    gatewayPublicKey = readBoxSecretKeyFile(keyPath()).publicKey;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const runArgs = (...extra: string[]): string[] => ['run', '--config', configPath(), '--key', keyPath(), ...extra];

  it('imports a support token and runs on it with the license servers down, until it expires', async () => {
    const until = START + 3n * HOUR;
    const file = supportToken({ expiryTimeUtc: until, renewTimeUtc: START + HOUR });
    expect(await run(runArgs('--token-file', file))).toBe(3);
    expect(lines).toContain(`imported license token support-1 from ${file}, valid until ${iso(until)}`);
    expect(lines).toContain(`running on cached license token support-1 (agreement acme), valid until ${iso(until)}`);
    expect(lines.some((line) => line.startsWith('license renewal failed: no license server answered') && line.endsWith(`running on the current token until ${iso(until)}`))).toBe(true);
    expect(posts).toBeGreaterThan(0);
    // It ran the whole validity (far past the 60 s start-up grace), and ended only when the token expired.
    expect(now).toBeGreaterThanOrEqual(until);
    expect(lines.at(-1)).toMatch(/^gateway-client: license token support-1 expired at 2026-01-01T03:00:00.000Z/);
  }, 30_000);

  it('runs on a support token dropped into the state directory as token.sealed', async () => {
    const file = supportToken();
    mkdirSync(join(dir, 'state'), { recursive: true });
    copyFileSync(file, join(dir, 'state', 'token.sealed'));
    expect(await run(runArgs(), START + HOUR)).toBe(0);
    expect(lines).toContain(`running on cached license token support-1 (agreement acme), valid until ${iso(START + 48n * HOUR)}`);
    expect(lines.at(-1)).toBe('stopped');
  });

  it('refuses a support token unless the support key is configured, and one signed by another key', async () => {
    writeConfig(undefined);
    const file = supportToken();
    expect(await run(runArgs('--token-file', file))).toBe(1);
    expect(lines.at(-1)).toMatch(/^gateway-client: token file .* is not a token for this gateway: response is sealed by box key [0-9a-f]+, not by the configured server box key$/);
    writeConfig(support.publicKey);
    expect(await run(runArgs('--token-file', supportToken({}, SigningKey.generate(random))))).toBe(1);
    expect(lines.at(-1)).toMatch(/nor a support token \(token is signed by key id "[0-9a-f]{16}", not by the configured support signing key/);
  });

  it('refuses a support token for another config, another gateway, or one already expired', async () => {
    expect(await run(runArgs('--token-file', supportToken({ configHash: configHash('fix-gateway', ['A1', 'B2']) })))).toBe(1);
    expect(lines.at(-1)).toMatch(/config hash differs/);
    expect(await run(runArgs('--token-file', supportToken({ gatewayPublicKey: BoxSecretKey.generate(random).publicKey })))).toBe(1);
    expect(lines.at(-1)).toMatch(/does not open with this gateway key/);
    now = START + 49n * HOUR;
    expect(await run(runArgs('--token-file', supportToken()))).toBe(1);
    expect(lines.at(-1)).toMatch(/token support-1 expired at 2026-01-03T00:00:00.000Z/);
  });

  it('keeps a cached token that runs longer than the file’s', async () => {
    expect(await run(runArgs('--token-file', supportToken({ tokenId: 'long', expiryTimeUtc: START + 72n * HOUR })), START + HOUR)).toBe(0);
    expect(await run(runArgs('--token-file', supportToken({ tokenId: 'short' })), START + 2n * HOUR)).toBe(0);
    expect(lines.filter((line) => line.startsWith('kept the cached'))).toEqual([expect.stringMatching(new RegExp(`^kept the cached license token long \\(valid until ${iso(START + 72n * HOUR)}\\): it runs longer than .*'s$`))]);
    const kept = lines.findIndex((line) => line.startsWith('kept the cached'));
    expect(lines[kept + 1]).toBe(`running on cached license token long (agreement acme), valid until ${iso(START + 72n * HOUR)}`);
  });
});
