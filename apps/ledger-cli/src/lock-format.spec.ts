import { evolve, initialState, type LeaseEvent } from '@license-ledger/lease-domain';
import type { ProjectedAgreement } from '@license-ledger/lease-projection';
import { formatAgreementList, formatOutcome, formatState, historyRow } from './format';

const T0 = Date.UTC(2026, 2, 1, 12);
const HOUR = 3_600_000;
const KEY = Buffer.alloc(32, 7).toString('base64');
const A = 'aa'.repeat(32);
const B = 'bb'.repeat(32);
const C = 'cc'.repeat(32);
const holder = { key: KEY, hostname: 'gw-1', processId: 42, sessionId: 's-1' };
const bounds = { minMs: 300_000, maxMs: 604_800_000, defaultMs: 7_200_000 };
const grant = { key: KEY, until: T0 + 48 * HOUR, issuedBy: 'alice', reason: 'ingress down at site B', overdraft: true };

describe('showing lingering locks, support locks and overdraft', () => {
  it('lists each kind of lock, the linger, and an agreement over its licenses', () => {
    const agreement: ProjectedAgreement = {
      id: 'acme',
      name: 'Acme',
      licenses: 2,
      bounds,
      lingerMs: 600_000,
      status: 'open',
      openedAt: T0,
      updatedAt: T0,
      keys: [KEY],
      locks: [
        { configHash: A, kind: 'held', grantedAt: T0, expiresAt: T0 + 2 * HOUR, holders: [{ ...holder, joinedAt: T0 }], support: { ...grant, overdraft: false } },
        { configHash: B, kind: 'lingering', grantedAt: T0, expiresAt: T0 + 600_000, holders: [], releasedAt: T0 },
        { configHash: C, kind: 'support', grantedAt: T0, expiresAt: T0 + 48 * HOUR, holders: [], support: grant },
      ],
    };
    expect(formatAgreementList([agreement], T0 + 60_000)).toEqual([
      'AGREEMENT  NAME  STATUS  LICENSES  LIVE  KEYS  MIN/DEFAULT/MAX  LINGER',
      'acme       Acme  open    2         3/2   1     5m/2h/7d         10m',
      '',
      'acme: 3 live lock(s) (OVER the 2 license(s))',
      `  lock ${A} until 2026-03-01T14:00:00.000Z (granted 2026-03-01T12:00:00.000Z)`,
      `    held by gw-1:42 session s-1 key ${KEY.slice(0, 12)}… since 2026-03-01T12:00:00.000Z`,
      `    support token until 2026-03-03T12:00:00.000Z for key ${KEY.slice(0, 12)}…, issued by alice: ingress down at site B`,
      `  lock ${B} LINGERING until 2026-03-01T12:10:00.000Z (released 2026-03-01T12:00:00.000Z) (granted 2026-03-01T12:00:00.000Z)`,
      `  lock ${C} SUPPORT until 2026-03-03T12:00:00.000Z (granted 2026-03-01T12:00:00.000Z)`,
      `    support token until 2026-03-03T12:00:00.000Z for key ${KEY.slice(0, 12)}…, issued by alice: ingress down at site B (OVERDRAFT)`,
    ]);
  });

  it('shows the new events in an agreement’s history and the folded state', () => {
    const m = (requestId: string, at = T0) => ({ requestId, at });
    const events: LeaseEvent[] = [
      { type: 'AgreementOpened', data: { agreementId: 'acme', name: 'Acme', licenses: 1, bounds, lingerMs: 600_000 }, metadata: m('r-1') },
      { type: 'KeyBound', data: { agreementId: 'acme', key: KEY }, metadata: m('r-2') },
      { type: 'LockGranted', data: { agreementId: 'acme', configHash: A, holder, expiresAt: T0 + HOUR }, metadata: m('r-3') },
      { type: 'LockReleased', data: { agreementId: 'acme', configHash: A, holder, freed: false, keptUntil: T0 + 600_000 }, metadata: m('r-4') },
      { type: 'SupportLockIssued', data: { agreementId: 'acme', configHash: B, key: KEY, until: T0 + 48 * HOUR, issuedBy: 'alice', reason: 'ingress down', overdraft: true }, metadata: m('s-1') },
      { type: 'LockForceReleased', data: { agreementId: 'acme', configHash: A, holders: [], expiresAt: T0 + 600_000, releasedBy: 'bob', reason: 'churn' }, metadata: m('f-1') },
    ];
    const details = events.map((event, offset) => historyRow({ partition: 0, offset: BigInt(offset), timestampMs: event.metadata.at, value: Buffer.alloc(0), record: event })[5]);
    expect(details).toEqual([
      '"Acme" 1 license(s), bounds 5m/2h/7d, linger 10m',
      `key ${KEY}`,
      expect.any(String),
      `lock ${A.slice(0, 12)}… by gw-1:42 session s-1 key ${KEY.slice(0, 12)}…, counted until 2026-03-01T12:10:00.000Z`,
      `lock ${B.slice(0, 12)}… until 2026-03-03T12:00:00.000Z for key ${KEY.slice(0, 12)}… by alice: ingress down (OVERDRAFT)`,
      `lock ${A.slice(0, 12)}… freed by bob: churn; 0 holder(s) refused until 2026-03-01T12:10:00.000Z`,
    ]);
    const state = events.slice(0, 5).reduce(evolve, initialState('acme'));
    expect(formatState([state], T0 + 1, undefined).slice(2)).toEqual([
      'acme "Acme" open, 1 license(s), 2 live lock(s), bounds 5m/2h/7d, linger 10m',
      `  key ${KEY}`,
      `  lock ${A} LINGERING until 2026-03-01T12:10:00.000Z (released 2026-03-01T12:00:00.000Z)`,
      `  lock ${B} SUPPORT until 2026-03-03T12:00:00.000Z`,
      `    support token until 2026-03-03T12:00:00.000Z for key ${KEY.slice(0, 12)}…, issued by alice: ingress down (OVERDRAFT)`,
    ]);
  });

  it('says when a release leaves the lock counted, and when a support lock is an overdraft', () => {
    expect(formatOutcome('release lock "acme"', 'r-1', { kind: 'released', configHash: A, freed: false, keptUntil: T0 })).toBe(
      `release lock "acme": released lock ${A.slice(0, 12)}…, counted until 2026-03-01T12:00:00.000Z (request r-1)`,
    );
    expect(formatOutcome('issue support lock "acme"', 's-1', { kind: 'granted', configHash: B, expiresAt: T0, renewed: false, overdraft: true })).toBe(
      `issue support lock "acme": granted lock ${B.slice(0, 12)}… until 2026-03-01T12:00:00.000Z (OVERDRAFT: beyond the licenses) (request s-1)`,
    );
  });
});
