import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { BoxSecretKey, SigningKey, toBase64, toHex } from '@license-ledger/protocol-crypto';
import { LICENSE_RELEASE_PATH, LicenseServerCrypto, licenseErrorBody, openReleaseRequest, sealReleaseAnswer, type LicenseErrorReason } from '@license-ledger/protocol-exchange';
import type { LicenseRequest, ReleaseRequest } from '@license-ledger/protocol-wire';
import { runCli, type CliEnvironment } from './cli';
import { HeldLockFile } from './held-locks';
import { collectHostFacts, type HostFacts } from './host-facts';

const SECOND = 1_000_000_000n;
const MINUTE = 60n * SECOND;
const START = 1_767_225_600n * SECOND; // 2026-01-01T00:00:00Z
const random = (length: number): Uint8Array => nacl.randomBytes(length);

type ReleaseMode = { readonly kind: 'freed' } | { readonly kind: 'linger'; readonly untilNs: bigint } | { readonly kind: 'refuse'; readonly reason: LicenseErrorReason } | { readonly kind: 'down' };

/** A license server on node:http made from the protocol libraries: grants every request, answers releases as told. */
class ReleasingServer {
  readonly box = BoxSecretKey.generate(random);
  readonly sign = SigningKey.generate(random);
  readonly crypto = new LicenseServerCrypto({ boxKey: this.box, signingKey: this.sign, random });
  readonly licenses: LicenseRequest[] = [];
  readonly releases: ReleaseRequest[] = [];
  releaseMode: ReleaseMode = { kind: 'freed' };
  licenseRefusal: LicenseErrorReason | undefined;
  url = '';
  private server: Server | undefined;

  constructor(private readonly now: () => bigint) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = new Uint8Array(Buffer.concat(chunks));
        const refuse = (reason: LicenseErrorReason, message: string): void => void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify(licenseErrorBody(reason, message)));
        if (req.url === LICENSE_RELEASE_PATH) {
          if (this.releaseMode.kind === 'down') return void res.writeHead(503).end();
          const { gatewayPublicKey, request } = openReleaseRequest(this.crypto, body);
          this.releases.push(request);
          if (this.releaseMode.kind === 'refuse') return refuse(this.releaseMode.reason, `test server says ${this.releaseMode.reason}`);
          const lingering = this.releaseMode.kind === 'linger';
          const answer = { nonce: request.nonce, configHash: request.configHash, releasedTimeUtc: this.now(), freed: !lingering, keptUntilUtc: this.releaseMode.kind === 'linger' ? this.releaseMode.untilNs : 0n };
          return void res.writeHead(200).end(sealReleaseAnswer(this.crypto, gatewayPublicKey, answer));
        }
        const { gatewayPublicKey, request } = this.crypto.openRequest(body);
        this.licenses.push(request);
        if (this.licenseRefusal) return refuse(this.licenseRefusal, 'lock X of agreement "a" was released by operator bob: moved');
        const now = this.now();
        const token = {
          tokenId: `token-${this.licenses.length}`,
          agreementId: 'agreement-1',
          gatewayPublicKey,
          configHash: request.configHash,
          packageName: request.packageName,
          issuedTimeUtc: now,
          expiryTimeUtc: now + 120n * MINUTE,
          nonce: request.nonce,
          renewTimeUtc: now + 30n * MINUTE,
        };
        return void res.writeHead(200).end(this.crypto.sealToken(token));
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('gateway-client release on a clean shutdown', () => {
  let dir: string;
  let now: bigint;
  let server: ReleasingServer;
  let lines: string[];
  let processId = 100n;
  let facts: HostFacts;
  beforeAll(async () => {
    facts = await collectHostFacts(START);
  });
  const statePath = (file: string): string => join(dir, 'state', file);

  beforeEach(async () => {
    dir = mkdtempSync(join(os.tmpdir(), 'gateway-release-'));
    now = START;
    lines = [];
    server = await new ReleasingServer(() => now).start();
    writeFileSync(
      join(dir, 'gateway.toml'),
      `[license]\npackage_name = "fix-gateway"\nservers = ["${server.url}"]\nserver_box_public_key = "${toBase64(server.box.publicKey)}"\nserver_sign_public_key = "${toBase64(server.sign.publicKey)}"\nstate_dir = "state"\n\n[accounts.a]\nlogin = "A1"\n`,
    );
    expect(await run(['keygen', '--out', join(dir, 'keys')])).toBe(0);
  });
  afterEach(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One CLI run as its own process (a new process id); stops (as SIGTERM would) once the fake clock reaches `stopAtNs`. */
  async function run(args: string[], stopAtNs?: bigint): Promise<number> {
    const controller = new AbortController();
    processId += 1n;
    const pid = processId;
    const env: CliEnvironment = {
      clock: { nowNs: () => now },
      sleep: async (ms) => {
        now += BigInt(ms) * 1_000_000n;
        if (stopAtNs !== undefined && now >= stopAtNs) controller.abort();
      },
      random,
      hostFacts: async () => ({ ...facts, hostname: 'gw-test', processId: pid }),
      signal: controller.signal,
      out: (line) => lines.push(line),
      err: (line) => lines.push(line),
    };
    return runCli(args, env);
  }
  const runArgs = (...extra: string[]): string[] => ['run', '--config', join(dir, 'gateway.toml'), '--key', join(dir, 'keys', 'gateway.key'), ...extra];

  it('gives back the lock the process was granted, naming it as its license requests did, then drops the cached token', async () => {
    expect(await run(runArgs(), START + 45n * MINUTE)).toBe(0);
    expect(server.licenses).toHaveLength(2); // at start and at the 30-minute renewal
    const [license] = server.licenses;
    expect(server.releases).toEqual([
      { tokenId: 'token-2', requestTimeUtc: START + 45n * MINUTE, nonce: expect.any(Uint8Array), configHash: license?.configHash, hostname: 'gw-test', processId: license?.processId, sessionId: license?.sessionId },
    ]);
    expect(lines.slice(-2)).toEqual([`released lock ${toHex(license?.configHash ?? new Uint8Array())} (license token token-2) at ${server.url}: the license is free again`, 'stopped']);
    expect([existsSync(statePath('token.sealed')), new HeldLockFile(join(dir, 'state')).load()]).toEqual([false, []]);
  });

  it("says how long a released lock lingers, and prints the server's refusal of a release", async () => {
    server.releaseMode = { kind: 'linger', untilNs: START + 16n * MINUTE };
    expect(await run(runArgs(), START + 15n * MINUTE)).toBe(0);
    expect(lines.at(-2)).toMatch(/^released lock [0-9a-f]{64} \(license token token-1\) at .*: it still counts until 2026-01-01T00:16:00\.000Z \(the agreement's linger\)$/);
    server.releaseMode = { kind: 'refuse', reason: 'lock_not_held' };
    expect(await run(runArgs(), now + 5n * MINUTE)).toBe(0);
    expect(lines.at(-2)).toMatch(/^release of lock [0-9a-f]{64} \(license token token-2\) refused by .*: lock_not_held: test server says lock_not_held$/);
    // Answered either way: nothing is left to give back.
    expect(new HeldLockFile(join(dir, 'state')).load()).toEqual([]);
  });

  it("releases an earlier process's share when it runs on that process's cached token, and keeps what no server answered", async () => {
    expect(await run(runArgs('--fetch-token-only'))).toBe(0);
    const fetcher = server.licenses[0];
    server.releaseMode = { kind: 'down' };
    expect(await run(runArgs(), START + 10n * MINUTE)).toBe(0); // on the cached token: no renewal yet
    expect(server.licenses).toHaveLength(1);
    expect(lines.at(-2)).toMatch(/^release of lock [0-9a-f]{64} failed: no license server answered the release: .*: HTTP 503; it counts until 2026-01-01T02:00:00\.000Z at the latest$/);
    expect([existsSync(statePath('token.sealed')), new HeldLockFile(join(dir, 'state')).load().map((lock) => lock.sessionId)]).toEqual([true, [fetcher?.sessionId]]);

    server.releaseMode = { kind: 'freed' };
    expect(await run(runArgs(), START + 20n * MINUTE)).toBe(0);
    // Released under the fetching process's names (the server down before took none).
    expect(server.releases.map((release) => [release.sessionId, release.processId])).toEqual([[fetcher?.sessionId, fetcher?.processId]]);
    expect(lines.at(-2)).toMatch(/the license is free again$/);
    expect(existsSync(statePath('token.sealed'))).toBe(false);
  });

  it('stops with exit code 5 when ops released the lock by force, printing their reason, and keeps no token to restart on', async () => {
    expect(await run(runArgs(), START + 31n * MINUTE)).toBe(0);
    server.licenseRefusal = 'lock_released_by_operator';
    lines.length = 0;
    expect(await run(runArgs())).toBe(5);
    expect(lines).toEqual([`gateway-client: ${server.url} refused the license: lock_released_by_operator: lock X of agreement "a" was released by operator bob: moved; stopping`]);
    expect(server.releases).toHaveLength(1); // the first run's; a forced release needs none
    expect([existsSync(statePath('token.sealed')), new HeldLockFile(join(dir, 'state')).load()]).toEqual([false, []]);
  });

  it('forgets what it cannot read in its held-locks file, and shares that ran out', () => {
    mkdirSync(join(dir, 'state'));
    const held = new HeldLockFile(join(dir, 'state'));
    writeFileSync(held.path, '{not json');
    expect(held.load()).toEqual([]);
    const lock = { tokenId: 't', configHash: new Uint8Array(32), hostname: 'h', processId: 1n, sessionId: 's', expiresNs: START + MINUTE };
    held.record(lock, START);
    held.record({ ...lock, tokenId: 't2', expiresNs: START + 2n * MINUTE }, START); // the same process renewed
    held.record({ ...lock, sessionId: 'other', expiresNs: START + 3n * MINUTE }, START + 90n * SECOND);
    expect(held.load().map((l) => [l.tokenId, l.sessionId])).toEqual([
      ['t2', 's'],
      ['t', 'other'],
    ]);
    expect(readFileSync(held.path, 'utf8')).toContain('"config_hash": "' + '00'.repeat(32) + '"');
  });
});
