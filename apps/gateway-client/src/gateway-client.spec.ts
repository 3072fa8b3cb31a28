import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { BoxSecretKey, SigningKey, configHash, readPublicKeyFile, toBase64 } from '@license-ledger/protocol-crypto';
import { InvalidRequestError, LicenseServerCrypto, licenseErrorBody, type LicenseErrorReason } from '@license-ledger/protocol-exchange';
import type { AccessToken, LicenseRequest } from '@license-ledger/protocol-wire';
import { runCli, type CliEnvironment } from './cli';
import { loadConfig } from './config';
import { collectHostFacts, cpuidFromCpuinfo, parseCpuList, procFields, type HostFacts } from './host-facts';

const SECOND = 1_000_000_000n;
const MINUTE = 60n * SECOND;
const START = 1_767_225_600n * SECOND; // 2026-01-01T00:00:00Z
const random = (length: number): Uint8Array => nacl.randomBytes(length);

/** Wall clock under test control; the fake sleep moves it instead of waiting. */
class FakeClock {
  constructor(public now = START) {}
  nowNs = (): bigint => this.now;
}

type Mode = 'ok' | 'unavailable' | 'forge' | 'foreign' | 'wrong-nonce' | LicenseErrorReason;

/** A license server made from the same libraries, on node:http, sharing the test's fake clock. */
class TestServer {
  readonly box = BoxSecretKey.generate(random);
  readonly sign = SigningKey.generate(random);
  readonly crypto = new LicenseServerCrypto({ boxKey: this.box, signingKey: this.sign, random });
  readonly requests: Array<{ at: bigint; request: LicenseRequest }> = [];
  mode: Mode = 'ok';
  lifetimeNs = 120n * MINUTE;
  renewAfterNs = 30n * MINUTE;
  url = '';
  private server: Server | undefined;

  constructor(private readonly clock: FakeClock) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const answer = (status: number, body: Uint8Array | string, type: string): void => {
          res.writeHead(status, { 'content-type': type }).end(body);
        };
        if (this.mode === 'unavailable') return answer(503, 'down', 'text/plain');
        let opened;
        try {
          opened = this.crypto.openRequest(new Uint8Array(Buffer.concat(chunks)));
        } catch (error: unknown) {
          if (error instanceof InvalidRequestError) return answer(400, JSON.stringify(licenseErrorBody('invalid_request', error.message)), 'application/json');
          throw error;
        }
        this.requests.push({ at: this.clock.now, request: opened.request });
        if (this.mode === 'no_license_agreement' || this.mode === 'no_available_licenses' || this.mode === 'invalid_request') {
          return answer(400, JSON.stringify(licenseErrorBody(this.mode, `test server says ${this.mode}`)), 'application/json');
        }
        const now = this.clock.now;
        const token: AccessToken = {
          tokenId: `token-${this.requests.length}`,
          agreementId: 'agreement-1',
          gatewayPublicKey: this.mode === 'foreign' ? BoxSecretKey.generate(random).publicKey : opened.gatewayPublicKey,
          configHash: opened.request.configHash,
          packageName: opened.request.packageName,
          issuedTimeUtc: now,
          expiryTimeUtc: now + this.lifetimeNs,
          nonce: this.mode === 'wrong-nonce' ? random(16) : opened.request.nonce,
          renewTimeUtc: now + this.renewAfterNs,
        };
        if (this.mode === 'foreign') {
          // Sealed to the requesting gateway, but the token inside names another gateway.
          return answer(200, foreignToken(this, token, opened.gatewayPublicKey), 'application/octet-stream');
        }
        const signer = this.mode === 'forge' ? new LicenseServerCrypto({ boxKey: this.box, signingKey: SigningKey.generate(random), random }) : this.crypto;
        return answer(200, signer.sealToken(token), 'application/octet-stream');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** A correctly signed token for another gateway, sealed to the requester. */
function foreignToken(server: TestServer, token: AccessToken, requester: Uint8Array): Uint8Array {
  const { signToken } = jest.requireActual<typeof import('@license-ledger/protocol-exchange')>('@license-ledger/protocol-exchange');
  const { encodeSealed, encodeSignedToken } = jest.requireActual<typeof import('@license-ledger/protocol-wire')>('@license-ledger/protocol-wire');
  const nonce = random(24);
  const box = nacl.secretbox(encodeSignedToken(signToken(token, server.sign)), nonce, server.box.sharedKey(requester));
  return encodeSealed({ publicKey: server.box.publicKey, nonce, box });
}

const fakeFacts = async (nowNs: bigint): Promise<HostFacts> => ({
  hostname: 'gw-test',
  networkHostname: 'gw-test.example.com',
  machineId: 'abc',
  machine: 'x86_64',
  cpuid: [1, 2],
  cpuVendor: 'GenuineTest',
  cpuBrand: 'Test CPU',
  numberOfProcessors: 4n,
  cacheLineSize: 64n,
  pageSize: 4096n,
  kernelName: 'Linux',
  kernelRelease: '6.1',
  kernelVersion: '#1',
  systemUptime: 1n,
  systemTotalMemory: 2n,
  systemAvailableMemory: 1n,
  systemTotalSwap: 0n,
  systemAvailableSwap: 0n,
  processId: 42n,
  processStartTimeUtc: nowNs - SECOND,
  processMaxRss: 1024n,
  cpuAffinity: [0, 1],
});

interface Harness {
  dir: string;
  clock: FakeClock;
  server: TestServer;
  keyPath: string;
  configPath: string;
  lines: string[];
  sleeps: bigint[];
  run(args: string[], options?: { stopAtNs?: bigint }): Promise<number>;
  writeConfig(extra?: string, logins?: string[], signKey?: Uint8Array): void;
}

async function harness(): Promise<Harness> {
  const dir = mkdtempSync(join(os.tmpdir(), 'gateway-client-'));
  const clock = new FakeClock();
  const server = await new TestServer(clock).start();
  const lines: string[] = [];
  const sleeps: bigint[] = [];
  const h: Harness = {
    dir,
    clock,
    server,
    keyPath: join(dir, 'keys', 'gateway.key'),
    configPath: join(dir, 'gateway.toml'),
    lines,
    sleeps,
    writeConfig(extra = '', logins = ['A1', 'A2'], signKey = server.sign.publicKey) {
      writeFileSync(
        h.configPath,
        `[license]
package_name = "fix-gateway"
package_version = "3.1.4"
api = "fix44"
servers = ["${server.url}"]
server_box_public_key = "${toBase64(server.box.publicKey)}"
server_sign_public_key = "${toBase64(signKey)}"
state_dir = "state"
${extra}

${logins.map((login, i) => `[accounts.account${i}]\nlogin = "${login}"\nsecrets_file = "/nonexistent/never-read.toml"\n`).join('\n')}`,
      );
    },
    async run(args, options = {}) {
      const controller = new AbortController();
      const env: CliEnvironment = {
        clock: { nowNs: clock.nowNs },
        sleep: async (ms) => {
          sleeps.push(BigInt(ms));
          clock.now += BigInt(ms) * 1_000_000n;
          if (options.stopAtNs !== undefined && clock.now >= options.stopAtNs) controller.abort();
        },
        random,
        hostFacts: fakeFacts,
        signal: controller.signal,
        out: (line) => lines.push(line),
        err: (line) => lines.push(line),
      };
      return runCli(args, env);
    },
  };
  h.writeConfig();
  expect(await h.run(['keygen', '--out', join(dir, 'keys')])).toBe(0);
  return h;
}

const minutesSinceStart = (h: Harness): bigint[] => h.server.requests.map((r) => (r.at - START) / MINUTE);

describe('gateway-client', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
  });
  afterEach(async () => {
    await h.server.close();
    rmSync(h.dir, { recursive: true, force: true });
  });
  const runArgs = (...extra: string[]): string[] => ['run', '--config', h.configPath, '--key', h.keyPath, ...extra];

  it('keygen writes a 0600 secret key and a one-line base64 public key', () => {
    expect(statSync(h.keyPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(h.dir, 'keys', 'gateway.pub'), 'utf8')).toMatch(/^[A-Za-z0-9+/]{43}=\n$/);
    expect(readPublicKeyFile(join(h.dir, 'keys', 'gateway.pub'))).toHaveLength(32);
  });

  it('--fetch-token-only fetches, verifies and caches the sealed response (0600)', async () => {
    expect(await h.run(runArgs('--fetch-token-only'))).toBe(0);
    expect(h.lines.at(-1)).toMatch(/^fetched license token token-1 from http:\/\/127\.0\.0\.1:\d+, valid until 2026-01-01T02:00:00\.000Z$/);
    const cached = join(h.dir, 'state', 'token.sealed');
    expect(statSync(cached).mode & 0o777).toBe(0o600);
    const [first] = h.server.requests;
    expect(first?.request.configHash).toEqual(configHash('fix-gateway', ['A1', 'A2']));
    expect(first?.request.packageName).toBe('fix-gateway');
    expect(first?.request.requestTimeUtc).toBe(START);
    expect(first?.request.tokenExpiryTimeUtc).toBe(START + 7200n * SECOND);
    expect(first?.request.accounts).toBe(2n);
  });

  it('sends the same config hash whatever --api says, and a different one for another login set', async () => {
    await h.run(runArgs('--fetch-token-only', '--api', 'native'));
    await h.run(runArgs('--fetch-token-only', '--api', 'fix42'));
    h.writeConfig('', ['A1', 'A2', 'A3']);
    await h.run(runArgs('--fetch-token-only'));
    const [a, b, c] = h.server.requests.map((r) => r.request);
    expect([a?.api, b?.api]).toEqual(['native', 'fix42']);
    expect(a?.configHash).toEqual(b?.configHash);
    expect(c?.configHash).not.toEqual(a?.configHash);
  });

  it('fails over to the next server when one does not answer', async () => {
    const dead = await new TestServer(h.clock).start();
    await dead.close(); // its port now refuses connections
    const unavailable = await new TestServer(h.clock).start();
    unavailable.mode = 'unavailable';
    try {
      expect(await h.run(runArgs('--fetch-token-only', '--server', dead.url, '--server', unavailable.url, '--server', h.server.url))).toBe(0);
      expect(h.server.requests).toHaveLength(1);
    } finally {
      await unavailable.close();
    }
  });

  it.each([
    ['forged (signed by another key)', 'forge', /rejected its token: token is signed by key id "[0-9a-f]{16}", not by the configured server signing key/],
    ['foreign (issued to another gateway)', 'foreign', /token was issued to another gateway key/],
    ['replayed (wrong nonce)', 'wrong-nonce', /token does not echo this request's nonce/],
  ] as const)('rejects a %s token', async (_name, mode, message) => {
    h.server.mode = mode;
    expect(await h.run(runArgs('--fetch-token-only'))).toBe(2);
    expect(h.lines.at(-1)).toMatch(message);
  });

  it('rejects a token from a server whose signing key is not the pinned one', async () => {
    h.writeConfig('', ['A1', 'A2'], SigningKey.generate(random).publicKey);
    expect(await h.run(runArgs('--fetch-token-only'))).toBe(2);
    expect(h.lines.at(-1)).toMatch(/not by the configured server signing key/);
  });

  it('reports a refusal with its reason and does not fail over', async () => {
    const second = await new TestServer(h.clock).start();
    try {
      h.server.mode = 'no_available_licenses';
      expect(await h.run(runArgs('--fetch-token-only', '--server', h.server.url, '--server', second.url))).toBe(2);
      expect(h.lines.at(-1)).toMatch(/refused the license: no_available_licenses: test server says no_available_licenses/);
      expect(second.requests).toHaveLength(0);
    } finally {
      await second.close();
    }
  });

  it('renews after the renew time, by default every 30 minutes', async () => {
    h.server.renewAfterNs = 24n * 60n * MINUTE; // the server allows longer; the client's 30-minute default wins
    h.server.lifetimeNs = 48n * 60n * MINUTE;
    expect(await h.run(runArgs(), { stopAtNs: START + 100n * MINUTE })).toBe(0);
    expect(minutesSinceStart(h)).toEqual([0n, 30n, 60n, 90n]);
    h.server.requests.length = 0;
    h.writeConfig('renew_interval_seconds = 600');
    h.server.renewAfterNs = 15n * MINUTE; // and the server's earlier renew time wins over the interval
    const base = h.clock.now;
    expect(await h.run(runArgs(), { stopAtNs: base + 40n * MINUTE })).toBe(0);
    expect(h.server.requests.map((r) => (r.at - base) / MINUTE)).toEqual([0n, 10n, 20n, 30n]);
  });

  it('on restart runs on the cached token while no server answers, retrying every minute, and exits when it expires', async () => {
    expect(await h.run(runArgs('--fetch-token-only'))).toBe(0);
    h.server.mode = 'unavailable';
    h.clock.now += 10n * MINUTE;
    h.lines.length = 0;
    expect(await h.run(runArgs())).toBe(3);
    expect(h.lines[0]).toMatch(/^running on cached license token token-1 .*valid until 2026-01-01T02:00:00\.000Z$/);
    expect(h.lines.filter((line) => line.startsWith('license renewal failed: no license server answered')).length).toBe(90); // minutes 30..119
    expect(h.clock.now).toBe(START + 120n * MINUTE);
    expect(h.lines.at(-1)).toBe('gateway-client: license token token-1 expired at 2026-01-01T02:00:00.000Z and could not be renewed (no license server answered: ' + `${h.server.url}: HTTP 503)`);
  });

  it('without a valid token runs only for the start-up grace, then exits non-zero with a clear message', async () => {
    h.server.mode = 'unavailable';
    h.writeConfig('startup_grace_seconds = 300');
    expect(await h.run(runArgs())).toBe(2);
    expect(h.clock.now).toBe(START + 5n * MINUTE);
    expect(h.lines.at(-1)).toMatch(/^gateway-client: no valid license token within the start-up grace of 300 s: no license server answered: .*HTTP 503$/);
    expect(h.lines.filter((line) => line.startsWith('license renewal failed')).length).toBe(5); // minutes 0..4
  });

  it('ignores a cached token issued for another configuration', async () => {
    expect(await h.run(runArgs('--fetch-token-only'))).toBe(0);
    h.writeConfig('startup_grace_seconds = 0', ['A1']);
    h.server.mode = 'unavailable';
    expect(await h.run(runArgs())).toBe(2);
    expect(h.lines).toContain('ignoring cached license token: token was issued for another configuration (config hash differs)');
  });

  it('refuses to run when the clock is behind the last time it saw by more than the tolerance', async () => {
    expect(await h.run(runArgs('--fetch-token-only'))).toBe(0);
    h.clock.now = START + 50n * MINUTE;
    expect(await h.run(runArgs('--fetch-token-only'))).toBe(0); // remembers 00:50
    h.clock.now = START + 46n * MINUTE; // 4 minutes back: within the 5-minute tolerance
    expect(await h.run(runArgs('--fetch-token-only'))).toBe(0);
    h.clock.now = START + 44n * MINUTE; // 6 minutes back
    expect(await h.run(runArgs())).toBe(4);
    expect(h.lines.at(-1)).toBe(
      'gateway-client: system clock (2026-01-01T00:44:00.000Z) is 360 s behind the latest time this client saw (2026-01-01T00:50:00.000Z), more than the tolerance of 300 s; refusing to run until the clock is corrected',
    );
  });

  it('says what is wrong with its arguments and config', async () => {
    expect(await h.run(['run', '--config', h.configPath])).toBe(1);
    expect(h.lines.at(-1)).toMatch(/--key is required\nusage:/);
    expect(await h.run(['run', '--config', h.configPath, '--key'])).toBe(1);
    expect(h.lines.at(-1)).toMatch(/--key needs a value\nusage:/);
    expect(await h.run(['run', '--config', h.configPath, '--key', '--server', 'http://x'])).toBe(1);
    expect(h.lines.at(-1)).toMatch(/--key needs a value\nusage:/);
    expect(await h.run(['run', '--config', h.configPath, '--colour', 'red'])).toBe(1);
    expect(h.lines.at(-1)).toMatch(/unknown argument "--colour"\nusage:/);
    expect(await h.run(['keygen', '--out', 'a', '--out', 'b'])).toBe(1);
    expect(h.lines.at(-1)).toMatch(/--out is given more than once\nusage:/);
    writeFileSync(h.configPath, '[license]\npackage_name = "x"\n');
    expect(await h.run(runArgs())).toBe(1);
    expect(h.lines.at(-1)).toMatch(/no license server: set \[license\]\.servers or pass --server <url>/);
  });
});

describe('config', () => {
  it('reads logins of every [accounts] table and the client settings, with defaults', () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'gateway-config-'));
    try {
      const key = toBase64(new Uint8Array(32).fill(1));
      writeFileSync(
        join(dir, 'g.toml'),
        `[license]\npackage_name = "md-gateway"\nservers = ["https://a.example", "https://b.example"]\nserver_box_public_key = "${key}"\nserver_sign_public_key = "${key}"\nstate_dir = "/var/lib/gw"\n\n[accounts]\n`,
      );
      const config = loadConfig(join(dir, 'g.toml'));
      expect(config.logins).toEqual([]);
      expect(config.servers).toEqual(['https://a.example', 'https://b.example']);
      expect([config.renewIntervalNs, config.retryIntervalNs, config.startupGraceNs, config.clockToleranceNs]).toEqual([1800n * SECOND, 60n * SECOND, 300n * SECOND, 300n * SECOND]);
      writeFileSync(join(dir, 'bad.toml'), `[license]\npackage_name = "p"\nservers = ["https://a"]\nserver_box_public_key = "nope"\nserver_sign_public_key = "${key}"\nstate_dir = "s"\n[accounts.x]\npassword = "p"\n`);
      expect(() => loadConfig(join(dir, 'bad.toml'))).toThrow(/accounts\.x\]\.login must be a non-empty string/);
      writeFileSync(join(dir, 'broken.toml'), '[license\n');
      expect(() => loadConfig(join(dir, 'broken.toml'))).toThrow(/is not valid TOML/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('host facts', () => {
  it('are collected from this host and process', async () => {
    const facts = await collectHostFacts(START);
    expect(facts.hostname).toBe(os.hostname());
    expect(facts.processId).toBe(BigInt(process.pid));
    expect(facts.numberOfProcessors).toBe(BigInt(os.cpus().length));
    expect(facts.kernelRelease).toBe(os.release());
    expect(facts.systemTotalMemory).toBe(BigInt(os.totalmem()));
    expect(facts.pageSize).toBeGreaterThanOrEqual(4096n);
    expect(facts.processMaxRss).toBeGreaterThan(0n);
    expect(facts.processStartTimeUtc).toBeLessThan(START);
    if (os.platform() === 'linux') expect(facts.machineId).toBe(readFileSync('/etc/machine-id', 'utf8').trim());
    if (os.arch() === 'x64') expect(facts.cpuid.length).toBeGreaterThanOrEqual(5);
  });

  it('reconstruct CPUID leaf 0 and the leaf 1 signature from /proc/cpuinfo', () => {
    const cpuinfo = procFields('processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\nstepping\t: 1\ncpuid level\t: 28\n\nprocessor\t: 1\n');
    expect(cpuidFromCpuinfo(cpuinfo)).toEqual([0x1c, 0x68747541, 0x444d4163, 0x69746e65, 0x00a10f11]);
    expect(parseCpuList('0-2,5,7-8')).toEqual([0, 1, 2, 5, 7, 8]);
  });
});
