import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LeaseProcessor, LedgerClient, LedgerTopics } from '@license-ledger/lease-ledger';
import { createScratchSchema, LedgerProjection, LedgerProjector, ScratchSchema } from '@license-ledger/lease-projection';
import { BoxSecretKey, configHash, systemRandom, toBase64, toHex, VerifyKey, writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { openSupportToken } from '@license-ledger/protocol-exchange';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, eventually, integrationEnv, silentLogger } from '@license-ledger/platform-testing';
import { runCli } from './cli';

/*
 * `ledger token issue` and `ledger lock release` against the real broker, lease service and
 * projection: decided by the ledger, shown by `list`, checked by `verify`; the token file opens and
 * verifies as the gateway client does it.
 */

const { brokers, databaseUrl } = integrationEnv();

describe('ledger-cli support tokens and forced release (real broker and database)', () => {
  let scratch: ScratchSchema;
  let topics: LedgerTopics;
  let groupId: string;
  let cliEnv: Record<string, string>;
  let dir: string;
  let supportKeyFile: string;
  let supportPublicKey: Uint8Array;
  const cleanups: Array<() => Promise<void>> = [];
  const bus = new KafkaJsMessageBus({ clientId: 'cli-support-test', brokers, logger: silentLogger });

  const cli = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, {
      env: cliEnv,
      io: { out: (line) => out.push(line), err: (line) => err.push(line), errRaw: () => undefined, errIsTTY: false },
      createPrisma: () => scratch.newClient(),
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    scratch = await createScratchSchema(databaseUrl);
    topics = await createTestTopics(brokers, 'test', ['commands', 'events', 'replies'], 3);
    groupId = `test-support-${randomUUID().slice(0, 8)}`;
    dir = mkdtempSync(path.join(tmpdir(), 'ledger-support-'));
    const written = writeKeyPairFiles({ dir: path.join(dir, 'keys'), name: 'support-sign', kind: 'sign' });
    supportKeyFile = written.secretKeyPath;
    supportPublicKey = written.publicKey;
    cliEnv = {
      KAFKA_BROKERS: brokers.join(','),
      DATABASE_URL: databaseUrl,
      LEASE_COMMANDS_TOPIC: topics.commands,
      LEASE_EVENTS_TOPIC: topics.events,
      LEASE_REPLIES_TOPIC: topics.replies,
      LEASE_GROUP_ID: groupId,
      SUPPORT_SIGN_KEY_FILE: supportKeyFile,
    };
    const processor = new LeaseProcessor({ bus, topics, groupId, instanceId: `lease-${randomUUID().slice(0, 6)}`, logger: silentLogger });
    await processor.start();
    const projector = new LedgerProjector({ bus, projection: new LedgerProjection(scratch.prisma), eventsTopic: topics.events, groupId: `${groupId}.projection`, logger: silentLogger });
    await projector.start();
    cleanups.push(async () => {
      await projector.stop();
      await processor.stop();
      await bus.close();
    });
  }, 60_000);

  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
    await scratch?.drop();
  });

  /** `list`, once the projector has caught up with `expected`. */
  const listShowing = (expected: RegExp): Promise<string> =>
    eventually(`ledger list to show ${expected}`, 30_000, async () => {
      const listed = (await cli('list')).out;
      return expected.test(listed) ? listed : undefined;
    });

  it('issues a support token decided by the ledger, lists it, refuses beyond the licenses unless overdraft, and releases by force', async () => {
    const agreementId = `acme-${randomUUID().slice(0, 6)}`;
    const gateway = BoxSecretKey.generate(systemRandom);
    const key = toBase64(gateway.publicKey);
    expect(await cli('agreement', 'open', '--id', agreementId, '--name', 'Acme Ltd', '--licenses', '1', '--linger', '10m')).toMatchObject({ code: 0 });
    expect(await cli('key', 'bind', '--agreement', agreementId, '--key', key)).toMatchObject({ code: 0 });

    // The config hash from package and logins is the gateway client's (libs/protocol/crypto configHash).
    const out = path.join(dir, 'acme.token');
    const issued = await cli('token', 'issue', '--agreement', agreementId, '--key', key, '--package', 'fix-gateway', '--logins', 'B2,A1', '--until', '72h', '--reason', 'ingress unreachable from site B', '--by', 'alice', '--out', out);
    expect(issued.err).toBe('');
    expect(issued.code).toBe(0);
    const hash = toHex(configHash('fix-gateway', ['A1', 'B2']));
    expect(issued.out).toMatch(new RegExp(`^issue support lock "${agreementId}": granted lock ${hash.slice(0, 12)}… until \\S+ \\(request support-[0-9a-f-]+\\)\\nwrote support token support-\\S+ to ${out}: key ${key.replace(/[+/]/g, '\\$&')}, config hash ${hash}, package "fix-gateway", valid until \\S+, signed by support key [0-9a-f]{16}$`));
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const token = openSupportToken({ body: new Uint8Array(readFileSync(out)), gatewayKey: gateway, supportVerifyKey: VerifyKey.fromBytes(supportPublicKey), expected: { configHash: configHash('fix-gateway', ['A1', 'B2']), packageName: 'fix-gateway' } });
    expect(token.agreementId).toBe(agreementId);
    const hours = Number(token.expiryTimeUtc - token.issuedTimeUtc) / 3.6e12;
    expect(hours).toBeGreaterThan(71.9);
    expect(hours).toBeLessThanOrEqual(72);

    const listed = await listShowing(/SUPPORT until/);
    expect(listed).toMatch(new RegExp(`${agreementId}\\s+Acme Ltd\\s+open\\s+1\\s+1/1\\s+1\\s+5m/2h/7d\\s+10m`));
    expect(listed).toContain(`lock ${hash} SUPPORT until`);
    expect(listed).toMatch(/support token until \S+ for key \S+, issued by alice: ingress unreachable from site B$/m);

    // Beyond the one license: refused (and no token file left behind), unless overdraft.
    const otherOut = path.join(dir, 'other.token');
    const refused = await cli('token', 'issue', '--agreement', agreementId, '--key', key, '--package', 'fix-gateway', '--logins', 'C3', '--until', '1d', '--reason', 'second site', '--out', otherOut);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/DENIED \(no_available_licenses\): all 1 licenses .* issue with overdraft to exceed them/);
    expect(existsSync(otherOut)).toBe(false);
    const overdraft = await cli('token', 'issue', '--agreement', agreementId, '--key', key, '--package', 'fix-gateway', '--logins', 'C3', '--until', '1d', '--reason', 'second site', '--overdraft', '--out', otherOut);
    expect(overdraft.code).toBe(0);
    expect(overdraft.out).toMatch(/granted lock \S+ until \S+ \(OVERDRAFT: beyond the licenses\)/);
    const over = await listShowing(/OVER the 1 license/);
    expect(over).toMatch(/: 2 live lock\(s\) \(OVER the 1 license\(s\)\)/);
    expect(over).toMatch(/issued by \S+: second site \(OVERDRAFT\)$/m);

    // Forced release frees the first lock at once; a second one finds nothing to release.
    const released = await cli('lock', 'release', '--agreement', agreementId, '--config-hash', hash, '--reason', 'site B back online', '--by', 'bob');
    expect(released).toMatchObject({ code: 0, err: '' });
    expect(released.out).toMatch(new RegExp(`^force release lock "${agreementId}": released lock ${hash.slice(0, 12)}…, license freed \\(request ops-`));
    const again = await cli('lock', 'release', '--agreement', agreementId, '--config-hash', hash, '--reason', 'twice');
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/DENIED \(lock_not_held\): agreement ".*" has no live lock on config hash/);

    const history = await cli('replay', '--agreement', agreementId);
    expect(history.out).toMatch(/SupportLockIssued .*until \S+ for key \S+ by alice: ingress unreachable from site B/);
    expect(history.out).toMatch(/LockForceReleased .*freed by bob: site B back online; 0 holder\(s\) refused/);
    await listShowing(/: 1 live lock\(s\)\n/);
    const verified = await cli('verify');
    expect(verified.err).not.toContain('FAILED');
    expect(verified.out).toMatch(/^verify OK: .* invariants hold, projection matches the log$/);
  }, 180_000);

  it("stops a holder's next renewal after a forced release, with the operator's reason; a new session may lock", async () => {
    const agreementId = `globex-${randomUUID().slice(0, 6)}`;
    const key = Buffer.alloc(32, 9).toString('base64');
    expect(await cli('agreement', 'open', '--id', agreementId, '--name', 'Globex', '--licenses', '1')).toMatchObject({ code: 0 });
    expect(await cli('key', 'bind', '--agreement', agreementId, '--key', key)).toMatchObject({ code: 0 });
    const gateway = new LedgerClient({ bus, topics, instanceId: `gw-${randomUUID().slice(0, 6)}`, groupPrefix: groupId });
    await gateway.start();
    try {
      const holder = { key, hostname: 'gw-host', processId: 77, sessionId: 'session-old' };
      const acquire = (sessionId: string) =>
        gateway.send({ type: 'AcquireLock', data: { agreementId, configHash: 'ef'.repeat(32), holder: { ...holder, sessionId } }, metadata: { requestId: randomUUID() } }, 30_000);
      expect(await acquire('session-old')).toMatchObject({ kind: 'granted' });
      expect(await cli('lock', 'release', '--agreement', agreementId, '--config-hash', 'ef'.repeat(32), '--reason', 'moved to the new gateway farm', '--by', 'carol')).toMatchObject({ code: 0 });
      expect(await acquire('session-old')).toEqual({
        kind: 'denied',
        reason: 'lock_released_by_operator',
        message: `lock ${'ef'.repeat(32)} of agreement "${agreementId}" was released by operator carol: moved to the new gateway farm`,
      });
      expect(await acquire('session-new')).toMatchObject({ kind: 'granted', renewed: false });
    } finally {
      await gateway.stop();
    }
  }, 120_000);

  it('refuses bad command lines with exit code 2 before anything reaches the ledger', async () => {
    const key = Buffer.alloc(32, 3).toString('base64');
    const base = ['token', 'issue', '--agreement', 'a', '--key', key, '--package', 'p', '--until', '1h', '--reason', 'r'];
    expect(await cli(...base)).toMatchObject({ code: 2, err: 'ledger-cli: token issue: give either --logins (the gateway computes the hash from them) or --config-hash' });
    expect(await cli(...base, '--logins', 'A', '--config-hash', 'ab'.repeat(32))).toMatchObject({ code: 2 });
    expect(await cli(...base, '--config-hash', 'xyz')).toMatchObject({ code: 2, err: expect.stringContaining('--config-hash must be 64 lower-case hex digits') });
    expect(await cli(...base, '--logins', 'A', '--until', 'tomorrow')).toMatchObject({ code: 2, err: expect.stringContaining('--until expects an ISO time') });
    expect(await cli(...base, '--logins', 'A', '--colour', 'red')).toMatchObject({ code: 2, err: expect.stringContaining("Unknown option '--colour'") });
    const taken = path.join(dir, 'taken.token');
    writeFileSync(taken, 'keep me');
    expect(await cli(...base, '--logins', 'A', '--out', taken)).toMatchObject({ code: 2, err: expect.stringContaining(`cannot create ${taken}`) });
    expect(readFileSync(taken, 'utf8')).toBe('keep me');
    expect(await cli(...base, '--logins', 'A', '--sign-key', path.join(dir, 'missing.key'))).toMatchObject({ code: 2, err: expect.stringContaining('cannot read the support signing key') });
    expect(await cli('lock', 'release', '--agreement', 'a', '--config-hash', 'ab'.repeat(32))).toMatchObject({ code: 2, err: 'ledger-cli: lock release: --reason is required' });
    expect(await cli('lock', 'steal')).toMatchObject({ code: 2, err: expect.stringContaining('unknown command "lock steal"') });
  });
});
