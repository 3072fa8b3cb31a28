import type { LeaseEvent } from '@license-ledger/lease-domain';
import { leaseEvents, hashOf } from './lease-event-builders';
import { AgreementUsage, foldUsage, HOUR_MS, mergeHours, UsageHour } from './usage-fold';

const T = (hhmm: string): number => Date.parse(`2026-03-01T${hhmm}:00Z`);
const H = (hh: string): number => T(`${hh}:00`);
const acme = leaseEvents('acme');

/** Folds batches one after the other, merging hours as the store does; answers hours by key and the last state. */
function foldInBatches(batches: readonly (readonly LeaseEvent[])[]): { hours: UsageHour[]; state: ReadonlyMap<string, AgreementUsage> } {
  let state: ReadonlyMap<string, AgreementUsage> = new Map();
  const hours = new Map<string, UsageHour>();
  for (const batch of batches) {
    const result = foldUsage(state, batch);
    state = new Map([...state, ...result.agreements]);
    for (const hour of result.hours) {
      const key = `${hour.agreementId}@${hour.hour}`;
      const stored = hours.get(key);
      hours.set(key, stored ? mergeHours(stored, hour) : hour);
    }
  }
  return { hours: [...hours.values()].sort((a, b) => a.agreementId.localeCompare(b.agreementId) || a.hour - b.hour), state };
}

const row = (hour: number, peakLocks: number, licenses: number, denials = 0, licensesAtEnd = licenses): UsageHour => ({ agreementId: 'acme', hour, peakLocks, licenses, licensesAtEnd, denials });

// 3 licenses; A from 10:10 to 12:10 (never released: its LockExpired is not written), B 10:20-10:50,
// a denial at 10:55, C granted at 13:30.
const day: LeaseEvent[] = [
  acme.opened(T('10:05'), 3),
  acme.granted(T('10:10'), 1, T('12:10')),
  acme.granted(T('10:20'), 2, T('10:50')),
  acme.expired(T('10:50'), 2),
  acme.denied(T('10:55')),
  acme.denied(T('10:56'), 'ChangeAgreement'),
  acme.granted(T('13:30'), 3, T('15:30')),
];

describe('foldUsage', () => {
  it('counts the hour peaks, the hours in between from what was still live, and lock-request denials', () => {
    const { hours } = foldInBatches([day]);
    expect(hours).toEqual([
      row(H('10'), 2, 3, 1),
      // No events: A is live at the start of 11:00 and 12:00; at 13:00 it has lapsed.
      row(H('11'), 1, 3),
      row(H('12'), 1, 3),
      // Recorded locks at 13:30: A (lapsed, not counted) and C.
      row(H('13'), 1, 3),
    ]);
  });

  it('gives the same hours however the log is cut into batches (the store merges them)', () => {
    const whole = foldInBatches([day]).hours;
    for (let cut = 0; cut <= day.length; cut++) {
      expect(foldInBatches([day.slice(0, cut), day.slice(cut)]).hours).toEqual(whole);
    }
    expect(foldInBatches(day.map((event) => [event])).hours).toEqual(whole);
  });

  it('starts an hour with the locks live at its start', () => {
    const events = [acme.opened(T('09:00'), 5), acme.granted(T('09:10'), 1, T('11:30')), acme.granted(T('09:20'), 2, T('11:30')), acme.denied(T('11:15'))];
    expect(foldInBatches([events]).hours).toEqual([row(H('09'), 2, 5), row(H('10'), 2, 5), row(H('11'), 2, 5, 1)]);
  });

  it('does not raise the peak on renewals of live locks, but does on a renewal that revives a lapsed one', () => {
    const events = [
      acme.opened(T('10:00'), 2),
      acme.granted(T('10:01'), 1, T('10:30')),
      acme.renewed(T('10:20'), 1, T('11:20')),
      acme.renewed(T('10:25'), 1, T('11:25')),
      acme.granted(T('10:40'), 2, T('10:45')),
      // Lock 2 lapsed at 10:45 (no LockExpired); a renewal at 10:50 makes it live again beside 1.
      acme.renewed(T('10:50'), 2, T('11:50')),
      acme.released(T('10:55'), 2, false),
    ];
    const { hours, state } = foldInBatches([events]);
    expect(hours).toEqual([row(H('10'), 2, 2)]);
    // A holder left, others remain: the lock stays recorded.
    expect([...(state.get('acme')?.locks.keys() ?? [])]).toEqual([hashOf(1), hashOf(2)]);
  });

  it('counts lingering and support locks until they end, and a forced release at once', () => {
    const events = [
      acme.opened(T('10:00'), 3),
      acme.granted(T('10:01'), 1, T('12:00')),
      // The last holder left, but the lock lingers (still counted) until 11:30.
      acme.released(T('10:10'), 1, false, T('11:30')),
      // Support locks a new hash until 13:00, and extends a live one (no new lock).
      acme.support(T('10:20'), 2, T('13:00')),
      acme.support(T('10:25'), 1, T('11:45')),
      acme.granted(T('10:30'), 3, T('14:00')),
      acme.forceReleased(T('10:40'), 3, T('14:00')),
      acme.denied(T('12:30')),
    ];
    const { hours, state } = foldInBatches([events]);
    // 10:00 peak 3 (1, 2, 3 at 10:30); 11:00 starts with 1 (to 11:45) and 2; 12:00 with 2 only.
    expect(hours.map((h) => [new Date(h.hour).toISOString().slice(11, 16), h.peakLocks])).toEqual([
      ['10:00', 3],
      ['11:00', 2],
      ['12:00', 1],
    ]);
    expect([...(state.get('acme')?.locks ?? [])]).toEqual([
      [hashOf(1), T('11:45')],
      [hashOf(2), T('13:00')],
    ]);
  });

  it('keeps the most licenses of an hour beside the licenses it ends with, and 0 after closing', () => {
    const events = [acme.opened(T('10:00'), 4), acme.changed(T('10:30'), 2), acme.changed(T('11:10'), 6), acme.closed(T('11:40')), acme.denied(T('12:05'))];
    expect(foldInBatches([events]).hours).toEqual([row(H('10'), 0, 4, 0, 2), row(H('11'), 0, 6, 0, 0), row(H('12'), 0, 0, 1, 0)]);
  });

  it('answers the net lock changes and the new state, leaving the prior state as it was', () => {
    const first = foldUsage(new Map(), [acme.opened(T('10:00'), 2), acme.granted(T('10:01'), 1, T('11:00')), acme.granted(T('10:02'), 2, T('11:00'))]);
    const prior = first.agreements;
    const before = JSON.stringify([...(prior.get('acme')?.locks ?? [])]);
    const second = foldUsage(prior, [acme.renewed(T('10:30'), 1, T('12:00')), acme.released(T('10:31'), 2), acme.granted(T('10:32'), 3, T('11:00')), acme.expired(T('10:33'), 3)]);
    expect(JSON.stringify([...(prior.get('acme')?.locks ?? [])])).toBe(before);
    expect(second.lockChanges).toEqual([
      { agreementId: 'acme', configHash: hashOf(1), expiresAt: T('12:00') },
      { agreementId: 'acme', configHash: hashOf(2), expiresAt: null },
      { agreementId: 'acme', configHash: hashOf(3), expiresAt: null },
    ]);
    expect(second.agreements.get('acme')).toMatchObject({ status: 'open', licenses: 2, openedAt: T('10:00'), lastEventAt: T('10:33') });
  });

  it('keeps no history of agreements that were never opened, and folds agreements independently', () => {
    const ghost = leaseEvents('ghost');
    const other = leaseEvents('other');
    const result = foldUsage(new Map(), [ghost.denied(T('10:00')), other.opened(T('10:00'), 1), acme.opened(T('10:00'), 1), other.granted(T('10:01'), 1, T('10:30'))]);
    expect([...result.agreements.keys()].sort()).toEqual(['acme', 'other']);
    expect(result.hours.map((h) => [h.agreementId, h.peakLocks])).toEqual([
      ['other', 1],
      ['acme', 0],
    ]);
  });

  it('stops writing idle hours once nothing is live, and reads a clock going back as the same instant', () => {
    const events = [acme.opened(T('10:00'), 1), acme.granted(T('10:00'), 1, T('10:30')), acme.denied(T('09:00')), acme.denied(Date.parse('2026-03-05T08:00:00Z'))];
    const { hours } = foldInBatches([events]);
    expect(hours.map((h) => [new Date(h.hour).toISOString(), h.peakLocks, h.denials])).toEqual([
      ['2026-03-01T10:00:00.000Z', 1, 1],
      ['2026-03-05T08:00:00.000Z', 0, 1],
    ]);
    expect(HOUR_MS).toBe(3_600_000);
  });
});
