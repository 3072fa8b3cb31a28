import { createScratchSchema, ScratchSchema } from '@license-ledger/lease-projection';
import { integrationEnv } from '@license-ledger/platform-testing';
import { runCli } from './cli';

/*
 * `ledger-cli usage` over usage-history rows as the metrics service stores them: the same rows and
 * the same expected buckets as apps/metrics/src/usage-history/usage-history-store.int.spec.ts
 * ("answers hours and days ..."), so the CLI and GET /v1/licenses/usage answer alike.
 */
describe('ledger-cli usage on the real database', () => {
  let scratch: ScratchSchema;
  const T = (iso: string): number => Date.parse(iso);

  const cli = async (...argv: string[]): Promise<{ code: number; out: string; err: string }> => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, {
      env: { DATABASE_URL: integrationEnv().databaseUrl },
      io: { out: (line) => out.push(line), err: (line) => err.push(line), errRaw: () => undefined, errIsTTY: false },
      createPrisma: () => scratch.newClient(),
      now: () => T('2026-03-02T12:00:00Z'),
    });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  beforeAll(async () => {
    scratch = await createScratchSchema(integrationEnv().databaseUrl);
    // What the fold stores for: opened 22:10 with 2 licenses, lock 1 22:20-02:20, a denial at 23:30,
    // 4 licenses from 00:30, lock 2 00:40-01:40.
    await scratch.prisma.$executeRawUnsafe(`INSERT INTO usage_history_agreement VALUES ('delta', 'open', 4, '2026-03-01T22:10:00Z', '2026-03-02T00:40:00Z')`);
    await scratch.prisma.$executeRawUnsafe(
      `INSERT INTO usage_history_lock VALUES ('delta', '${'01'.repeat(32)}', ${T('2026-03-02T02:20:00Z')}), ('delta', '${'02'.repeat(32)}', ${T('2026-03-02T01:40:00Z')})`,
    );
    await scratch.prisma.$executeRawUnsafe(
      `INSERT INTO usage_history_hourly VALUES ('delta', '2026-03-01T22:00:00Z', 1, 2, 2, 0), ('delta', '2026-03-01T23:00:00Z', 1, 2, 2, 1), ('delta', '2026-03-02T00:00:00Z', 2, 4, 4, 0)`,
    );
  });

  afterAll(async () => {
    await scratch?.drop();
  });

  it('prints the hours of an agreement, idle ones filled and the locks live after the last event counted', async () => {
    const run = await cli('usage', '--agreement', 'delta', '--from', '2026-03-01T21:00:00Z', '--to', '2026-03-02T04:00:00Z', '--by', 'hour');
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out.split('\n')).toEqual([
      'agreement "delta", per UTC hour, 2026-03-01T21:00:00.000Z to 2026-03-02T04:00:00.000Z:',
      'START             PEAK LOCKS  LICENSES  DENIALS',
      '2026-03-01T21:00  0           0         0',
      '2026-03-01T22:00  1           2         0',
      '2026-03-01T23:00  1           2         1',
      '2026-03-02T00:00  2           4         0',
      '2026-03-02T01:00  2           4         0',
      '2026-03-02T02:00  1           4         0',
      '2026-03-02T03:00  0           4         0',
      'peak 2 lock(s) at once, 1 denied lock request(s)',
    ]);
  });

  it('prints days, says when there is no history, and refuses bad options with exit code 2', async () => {
    const days = await cli('usage', '--from', '2026-03-01T00:00:00Z', '--to', '2026-03-03T00:00:00Z', '--by', 'day');
    expect(days.out.split('\n').slice(1, 4)).toEqual(['START       PEAK LOCKS  LICENSES  DENIALS', '2026-03-01  1           2         1', '2026-03-02  2           4         0']);
    expect(await cli('usage', '--agreement', 'nobody')).toMatchObject({ code: 1, err: expect.stringContaining('no usage history of agreement "nobody"') });
    expect(await cli('usage', '--by', 'week')).toMatchObject({ code: 2, err: 'ledger-cli: --by expects hour or day, got "week"' });
    expect(await cli('usage', '--agreement')).toMatchObject({ code: 2, err: expect.stringContaining("Option '--agreement <value>' argument missing") });
    expect(await cli('usage', '--from', '2026-03-02T00:00:00Z', '--to', '2026-03-01T00:00:00Z')).toMatchObject({ code: 2, err: 'ledger-cli: --from must be before --to' });
    expect(await cli('usage', '--from', 'yesterday')).toMatchObject({ code: 2, err: expect.stringContaining('--from expects an ISO time') });
  });
});
