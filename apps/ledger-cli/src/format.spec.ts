import { evolve, initialState, LeaseEvent } from '@license-ledger/lease-domain';
import type { ProjectedAgreement } from '@license-ledger/lease-projection';
import { resolveGatewayKey } from './cli';
import { formatAgreementList, formatDuration, formatOutcome, formatState, historyRow, renderProgress, table } from './format';
import { LogVerifier } from './ledger-log';

/** The raw value a log entry came from: a record of an older version (no chain link), as these entries are. */
const OLD_RECORD = Buffer.from('{}');

const T0 = Date.UTC(2026, 2, 1, 12);
const KEY = Buffer.alloc(32, 7).toString('base64');
const HASH = 'ab'.repeat(32);
const holder = { key: KEY, hostname: 'gw-1', processId: 42, sessionId: 's-1' };
const bounds = { minMs: 300_000, maxMs: 604_800_000, defaultMs: 7_200_000 };

describe('formatting', () => {
  it('writes durations in the largest exact unit', () => {
    expect([300_000, 604_800_000, 7_200_000, 90_000, 1_500].map(formatDuration)).toEqual(['5m', '7d', '2h', '90s', '1500ms']);
  });

  it('writes outcomes, denials included', () => {
    expect(formatOutcome('open agreement "acme"', 'r-1', { kind: 'accepted' })).toBe('open agreement "acme": accepted (request r-1)');
    expect(formatOutcome('bind key "acme"', 'r-2', { kind: 'denied', reason: 'invalid_command', message: 'agreement "acme" is closed' })).toBe(
      'bind key "acme": DENIED (invalid_command): agreement "acme" is closed (request r-2)',
    );
  });

  it('aligns columns', () => {
    expect(table(['A', 'BB'], [['xxx', 'y'], ['z', '']])).toEqual(['A    BB', 'xxx  y', 'z']);
  });

  it('lists agreements with their live locks and holders, leaving out expired ones', () => {
    const agreement: ProjectedAgreement = {
      id: 'acme',
      name: 'Acme',
      licenses: 2,
      bounds,
      lingerMs: 0,
      status: 'open',
      openedAt: T0,
      updatedAt: T0,
      keys: [KEY],
      locks: [
        { configHash: HASH, kind: 'held', grantedAt: T0, expiresAt: T0 + 7_200_000, holders: [{ ...holder, joinedAt: T0 }] },
        { configHash: 'cd'.repeat(32), kind: 'held', grantedAt: T0, expiresAt: T0 + 1_000, holders: [{ ...holder, joinedAt: T0 }] },
      ],
    };
    expect(formatAgreementList([agreement], T0 + 60_000)).toEqual([
      'AGREEMENT  NAME  STATUS  LICENSES  LIVE  KEYS  MIN/DEFAULT/MAX  LINGER',
      'acme       Acme  open    2         1/2   1     5m/2h/7d         -',
      '',
      'acme: 1 live lock(s)',
      `  lock ${HASH} until 2026-03-01T14:00:00.000Z (granted 2026-03-01T12:00:00.000Z)`,
      `    held by gw-1:42 session s-1 key ${KEY.slice(0, 12)}… since 2026-03-01T12:00:00.000Z`,
    ]);
    expect(formatAgreementList([], T0)).toEqual(['no agreements']);
  });

  it('prints the folded state as of an instant and history rows', () => {
    const events: LeaseEvent[] = [
      { type: 'AgreementOpened', data: { agreementId: 'acme', name: 'Acme', licenses: 1, bounds }, metadata: { requestId: 'r-1', at: T0 } },
      { type: 'KeyBound', data: { agreementId: 'acme', key: KEY }, metadata: { requestId: 'r-2', at: T0 } },
      { type: 'LockGranted', data: { agreementId: 'acme', configHash: HASH, holder, expiresAt: T0 + 60_000 }, metadata: { requestId: 'r-3', at: T0 } },
    ];
    const state = events.reduce(evolve, initialState('acme'));
    expect(formatState([state], T0 + 1_000, undefined)).toEqual([
      'state as of 2026-03-01T12:00:01.000Z',
      '',
      'acme "Acme" open, 1 license(s), 1 live lock(s), bounds 5m/2h/7d',
      `  key ${KEY}`,
      `  lock ${HASH} until 2026-03-01T12:01:00.000Z`,
      `    held by gw-1:42 session s-1 key ${KEY.slice(0, 12)}…`,
    ]);
    expect(historyRow({ partition: 2, offset: 17n, timestampMs: T0, value: OLD_RECORD, record: events[2] as LeaseEvent })).toEqual([
      '2',
      '17',
      '2026-03-01T12:00:00.000Z',
      'LockGranted',
      'r-3',
      `lock ${HASH.slice(0, 12)}… until 2026-03-01T12:01:00.000Z by gw-1:42 session s-1 key ${KEY.slice(0, 12)}…`,
    ]);
    expect(historyRow({ partition: 2, offset: 18n, timestampMs: T0, value: OLD_RECORD, record: { type: 'PartitionClaimed', data: { partition: 2, owner: 'lease-b', claimId: 'c' }, metadata: { at: T0 } } })[5]).toBe(
      'partition 2 claimed by lease-b',
    );
  });

  it("shows the key's stream in history rows", () => {
    const refused = { type: 'KeyReservationRefused' as const, data: { key: KEY, agreementId: 'globex', heldBy: 'acme', message: 'the key is bound to agreement "acme"' }, metadata: { requestId: 'r-4>reserve', at: T0 } };
    expect(historyRow({ partition: 0, offset: 3n, timestampMs: T0, value: OLD_RECORD, record: refused }).slice(3)).toEqual([
      'KeyReservationRefused',
      'r-4>reserve',
      `key ${KEY} for agreement "globex": the key is bound to agreement "acme"`,
    ]);
  });

  it('draws a progress bar', () => {
    expect(renderProgress(5n, 10n, 10)).toBe('[#####-----]  50% 5/10 offsets');
    expect(renderProgress(0n, 0n, 4)).toBe('[####] 100% 0/0 offsets');
  });
});

describe('resolveGatewayKey', () => {
  const files: Record<string, Buffer> = { 'gw.pub': Buffer.from(`${KEY}\n`), 'gw.raw': Buffer.alloc(32, 7), 'bad.pub': Buffer.from('hello') };
  const readFile = (path: string): Buffer => {
    const contents = files[path];
    if (!contents) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return contents;
  };

  it('takes a base64 key as is, or reads it from a key file', () => {
    expect(resolveGatewayKey(KEY, readFile)).toBe(KEY);
    expect(resolveGatewayKey('gw.pub', readFile)).toBe(KEY);
    expect(resolveGatewayKey('gw.raw', readFile)).toBe(KEY);
    expect(() => resolveGatewayKey('missing.pub', readFile)).toThrow(/neither a gateway public key .* nor a readable key file: ENOENT/);
    expect(() => resolveGatewayKey('bad.pub', readFile)).toThrow(/key file bad.pub holds neither/);
  });
});

describe('LogVerifier', () => {
  it('flags unreadable records and broken invariants with their positions', () => {
    const verifier = new LogVerifier();
    const at = (offset: number, event: LeaseEvent) => verifier.observe({ partition: 1, offset: BigInt(offset), timestampMs: T0, value: OLD_RECORD, record: event });
    at(0, { type: 'AgreementOpened', data: { agreementId: 'acme', name: 'Acme', licenses: 1, bounds }, metadata: { requestId: 'r-1', at: T0 } });
    at(1, { type: 'KeyBound', data: { agreementId: 'acme', key: KEY }, metadata: { requestId: 'r-2', at: T0 } });
    at(2, { type: 'LockRenewed', data: { agreementId: 'acme', configHash: HASH, holder, expiresAt: T0 + 60_000 }, metadata: { requestId: 'r-3', at: T0 } });
    verifier.observe({ partition: 1, offset: 3n, timestampMs: T0, value: OLD_RECORD, malformed: 'malformed ledger record: Unexpected token' });
    expect(verifier.problems.map((p) => [p.offset, p.message.split(':')[0]])).toEqual([
      [2n, 'renewal_of_dead_lock'],
      [3n, 'unreadable record'],
    ]);
    expect(verifier.eventsPerPartition.get(1)).toEqual({ count: 3, maxOffset: 2n });
  });
});

describe('LogVerifier at the end of the log', () => {
  it('flags a key bound to two open agreements (a log from before bindings were exclusive), at the later binding', () => {
    const verifier = new LogVerifier();
    const at = (partition: number, offset: number, event: LeaseEvent) => verifier.observe({ partition, offset: BigInt(offset), timestampMs: T0, value: OLD_RECORD, record: event });
    for (const [partition, agreementId] of [[0, 'acme'], [1, 'globex']] as const) {
      at(partition, 0, { type: 'AgreementOpened', data: { agreementId, name: agreementId, licenses: 1, bounds }, metadata: { requestId: `open-${agreementId}`, at: T0 } });
      at(partition, 1, { type: 'KeyBound', data: { agreementId, key: KEY }, metadata: { requestId: `bind-${agreementId}`, at: T0 } });
    }
    verifier.finish();
    expect(verifier.problems).toEqual([{ partition: 1, offset: 1n, message: `key_bound_once: agreement "globex", request bind-globex: key ${KEY} is bound to open agreements "acme" and "globex"` }]);
  });
});
