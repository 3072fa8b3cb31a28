import { LedgerCommand, LedgerEvent, outcomeOf } from '@license-ledger/lease-domain';
import { RememberedDecisions } from './remembered-decisions';

const T0 = Date.UTC(2026, 0, 1);
const hash = (n: number): string => n.toString(16).padStart(64, '0');
const holder = { key: Buffer.alloc(32, 1).toString('base64'), hostname: 'gw', processId: 1, sessionId: 's' };
const meta = (requestId: string) => ({ requestId, at: T0 });
const agreementId = 'a1';

/** Decisions of every kind of answer, each as the events one decision writes. */
const decisions: Record<string, LedgerEvent[]> = {
  granted: [{ type: 'LockGranted', data: { agreementId, configHash: hash(1), holder, expiresAt: T0 + 5 }, metadata: meta('granted') }],
  expiredThenGranted: [
    { type: 'LockExpired', data: { agreementId, configHash: hash(2), expiredAt: T0 }, metadata: meta('expiredThenGranted') },
    { type: 'LockGranted', data: { agreementId, configHash: hash(2), holder, expiresAt: T0 + 6 }, metadata: meta('expiredThenGranted') },
  ],
  renewed: [{ type: 'LockRenewed', data: { agreementId, configHash: hash(3), holder, expiresAt: T0 + 7 }, metadata: meta('renewed') }],
  freed: [{ type: 'LockReleased', data: { agreementId, configHash: hash(4), holder, freed: true }, metadata: meta('freed') }],
  lingering: [{ type: 'LockReleased', data: { agreementId, configHash: hash(5), holder, freed: false, keptUntil: T0 + 8 }, metadata: meta('lingering') }],
  shared: [{ type: 'LockReleased', data: { agreementId, configHash: hash(6), holder, freed: false }, metadata: meta('shared') }],
  denied: [{ type: 'RequestDenied', data: { agreementId, reason: 'lock_not_held', command: 'ReleaseLock', message: 'not held' }, metadata: meta('denied') }],
  support: [
    { type: 'SupportLockIssued', data: { agreementId, configHash: hash(7), key: holder.key, until: T0 + 9, issuedBy: 'ops', reason: 'r', overdraft: true }, metadata: meta('support') },
  ],
  accepted: [{ type: 'AgreementClosed', data: { agreementId }, metadata: meta('accepted') }],
};
const forward: LedgerCommand = { type: 'ReserveKey', data: { key: holder.key, agreementId }, metadata: { requestId: 'bind>reserve' } };

function remember(into: RememberedDecisions, requestId: string, events: readonly LedgerEvent[], at: number): void {
  into.begin(requestId, at);
  for (const event of events) into.answer(event, at);
}

describe('RememberedDecisions', () => {
  it("answers each request id with what outcomeOf makes of its decision's events", () => {
    const remembered = new RememberedDecisions();
    for (const [requestId, events] of Object.entries(decisions)) remember(remembered, requestId, events, T0);
    for (const [requestId, events] of Object.entries(decisions)) expect(remembered.outcomeOf(requestId)).toStrictEqual(outcomeOf(events));
    expect(remembered.outcomeOf('unknown')).toBeUndefined();
  });

  it('keeps thousands of decisions through the ring growing and wrapping, forgetting the oldest past the horizon', () => {
    const remembered = new RememberedDecisions();
    // Asked once early: the index is kept up to date from then on, as on an owner.
    expect(remembered.outcomeOf('r0')).toBeUndefined();
    for (let n = 0; n < 10_000; n++) {
      remember(remembered, `r${n}`, [{ type: 'LockRenewed', data: { agreementId, configHash: hash(n), holder, expiresAt: T0 + n }, metadata: meta(`r${n}`) }], T0 + n);
      if (n % 7 === 0) remembered.forwardLatest({ ...forward, metadata: { requestId: `r${n}>reserve` } });
      remembered.forgetBefore(T0 + n - 3_000);
    }
    // The last horizon is T0 + 6,999: decisions at it and later are kept.
    expect(remembered.outcomeOf('r6998')).toBeUndefined();
    expect(remembered.outcomeOf('r7000')).toEqual({ kind: 'granted', configHash: hash(7000), expiresAt: T0 + 7000, renewed: true });
    expect(remembered.forwardOf('r7000')?.metadata.requestId).toBe('r7000>reserve');
    expect(remembered.forwardOf('r7001')).toBeUndefined();
    expect(remembered.order()).toEqual(Array.from({ length: 3_001 }, (_, i) => `r${6_999 + i}`));
    expect([...remembered.entries().keys()]).toEqual(remembered.order());
  });

  it('keeps the order decided while it grows and the oldest are forgotten meanwhile (the ring wrapped)', () => {
    const remembered = new RememberedDecisions();
    for (let n = 0; n < 20_000; n++) {
      remember(remembered, `r${n}`, [{ type: 'LockGranted', data: { agreementId, configHash: hash(n), holder, expiresAt: T0 + n }, metadata: meta(`r${n}`) }], T0 + n);
      remembered.forgetBefore(T0 + Math.floor(n / 2));
    }
    expect(remembered.order()).toEqual(Array.from({ length: 10_001 }, (_, i) => `r${9_999 + i}`));
    expect(remembered.outcomeOf('r9998')).toBeUndefined();
    for (const n of [9_999, 12_345, 19_999]) expect(remembered.outcomeOf(`r${n}`)).toEqual({ kind: 'granted', configHash: hash(n), expiresAt: T0 + n, renewed: false });
  });

  it('without an index (a replay), forgets by the order decided and builds the same index when first asked', () => {
    const replayed = new RememberedDecisions();
    const owner = new RememberedDecisions();
    owner.outcomeOf('nothing yet');
    for (let n = 0; n < 5_000; n++) {
      for (const into of [replayed, owner]) {
        remember(into, `r${n}`, decisions['freed'] ?? [], T0 + n);
        into.forgetBefore(T0 + n - 1_000);
      }
    }
    expect(replayed.entries()).toEqual(owner.entries());
    expect(replayed.outcomeOf('r3998')).toBeUndefined();
    expect(replayed.outcomeOf('r3999')).toEqual(owner.outcomeOf('r3999'));
    expect(replayed.outcomeOf('r3999')?.kind).toBe('released');
  });

  it('restores what it exported: answers, follow-ups, times and order, a request id decided twice included', () => {
    const original = new RememberedDecisions();
    for (const [requestId, events] of Object.entries(decisions)) remember(original, requestId, events, T0 + requestId.length);
    original.forwardLatest(forward);
    remember(original, 'granted', decisions['renewed'] ?? [], T0 + 100);
    const restored = new RememberedDecisions();
    restored.restore(original.entries(), original.order());
    expect(restored.entries()).toEqual(original.entries());
    expect(restored.order()).toEqual(original.order());
    expect(restored.outcomeOf('granted')).toEqual(outcomeOf(decisions['renewed'] ?? []));
    expect(restored.forwardOf('accepted')).toEqual(forward);
    expect(restored.latestRequestId()).toBe('granted');
  });
});
