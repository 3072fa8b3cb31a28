import { ReplayGuard } from './replay-guard';

const MS = 1_000_000n;
const NOW = 1_800_000_000_000;
const ns = (ms: number): bigint => BigInt(ms) * MS;

describe('ReplayGuard', () => {
  const guard = (): ReplayGuard => new ReplayGuard(300_000);

  it('accepts request times within the window either side of the clock', () => {
    const g = guard();
    expect(g.checkTime(ns(NOW - 300_000), NOW)).toEqual({ ok: true });
    expect(g.checkTime(ns(NOW + 300_000), NOW)).toEqual({ ok: true });
    expect(g.checkTime(ns(NOW - 300_001), NOW)).toEqual({ ok: false, message: "request_time_utc is 300 s behind the server's clock; at most 300 s is accepted (check the gateway's clock)" });
    expect(g.checkTime(ns(NOW + 3_600_000), NOW)).toEqual({ ok: false, message: "request_time_utc is 3600 s ahead of the server's clock; at most 300 s is accepted (check the gateway's clock)" });
    expect(g.checkTime(0n, NOW).ok).toBe(false);
  });

  it('accepts a nonce once per key within the window', () => {
    const g = guard();
    expect(g.claim('key1:nonce1', ns(NOW), NOW)).toBe(true);
    expect(g.claim('key1:nonce1', ns(NOW), NOW + 1_000)).toBe(false);
    expect(g.claim('key2:nonce1', ns(NOW), NOW)).toBe(true);
  });

  it('lets a released nonce be retried (the ledger did not answer it)', () => {
    const g = guard();
    expect(g.claim('id', ns(NOW), NOW)).toBe(true);
    g.release('id');
    expect(g.claim('id', ns(NOW), NOW + 10)).toBe(true);
    expect(g.claim('id', ns(NOW), NOW + 20)).toBe(false);
  });

  it('forgets nonces once their request time has left the window', () => {
    const g = guard();
    g.claim('old', ns(NOW), NOW);
    g.claim('new', ns(NOW + 200_000), NOW + 200_000);
    expect(g.size).toBe(2);
    g.claim('later', ns(NOW + 302_000), NOW + 302_000);
    expect(g.size).toBe(2);
    expect(g.checkTime(ns(NOW), NOW + 302_000).ok).toBe(false);
  });

  it('stops remembering, rather than refusing, when full', () => {
    const g = new ReplayGuard(300_000, 1);
    expect(g.claim('a', ns(NOW), NOW)).toBe(true);
    expect(g.claim('b', ns(NOW), NOW)).toBe(true);
    expect(g.size).toBe(1);
  });
});
