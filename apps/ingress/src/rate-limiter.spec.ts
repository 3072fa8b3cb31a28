import { TokenBucketLimiter } from './rate-limiter';

describe('TokenBucketLimiter', () => {
  it('allows a burst, then one request per refill interval, and says how long to wait', () => {
    const limiter = new TokenBucketLimiter({ perSecond: 2, burst: 3 });
    expect([0, 0, 0].map(() => limiter.take('k', 1_000))).toEqual([0, 0, 0]);
    expect(limiter.take('k', 1_000)).toBe(500);
    expect(limiter.take('k', 1_400)).toBe(100);
    expect(limiter.take('k', 1_500)).toBe(0);
    expect(limiter.take('k', 1_500)).toBe(500);
  });

  it('keeps keys apart', () => {
    const limiter = new TokenBucketLimiter({ perSecond: 1, burst: 1 });
    expect(limiter.take('a', 0)).toBe(0);
    expect(limiter.take('a', 0)).toBe(1_000);
    expect(limiter.take('b', 0)).toBe(0);
  });

  it('never holds more than the burst, however long a key was idle', () => {
    const limiter = new TokenBucketLimiter({ perSecond: 100, burst: 2 });
    limiter.take('k', 0);
    const after = [0, 0, 0].map(() => limiter.take('k', 3_600_000));
    expect(after).toEqual([0, 0, 10]);
  });

  it('forgets buckets that refilled, and bounds how many it keeps', () => {
    const limiter = new TokenBucketLimiter({ perSecond: 10, burst: 5, maxKeys: 3 });
    for (const key of ['a', 'b', 'c', 'd']) limiter.take(key, 0);
    expect(limiter.size).toBe(3);
    limiter.take('e', 10_000);
    expect(limiter.size).toBe(1);
  });

  it('rejects nonsense settings', () => {
    expect(() => new TokenBucketLimiter({ perSecond: 0, burst: 1 })).toThrow();
    expect(() => new TokenBucketLimiter({ perSecond: 1, burst: 0 })).toThrow();
  });
});
