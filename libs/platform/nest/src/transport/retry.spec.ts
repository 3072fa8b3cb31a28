import { backoffDelay, keepTrying, pause } from './retry';

describe('the transport retry', () => {
  it('doubles the wait from the first to the longest', () => {
    const backoff = { initialMs: 250, maxMs: 5_000 };
    expect([1, 2, 3, 4, 5, 6, 7].map((failures) => backoffDelay(backoff, failures))).toEqual([250, 500, 1_000, 2_000, 4_000, 5_000, 5_000]);
  });

  it('ends a pause at once when stopped, and says so', async () => {
    const aborter = new AbortController();
    const paused = pause(60_000, aborter.signal);
    aborter.abort();
    await expect(paused).resolves.toBe(false);
    await expect(pause(1, new AbortController().signal)).resolves.toBe(true);
  });

  it('tries until an attempt succeeds, logging each failure with its wait', async () => {
    const warnings: object[] = [];
    let attempts = 0;
    const succeeded = await keepTrying(
      'the thing',
      { pattern: 'p' },
      async () => {
        attempts += 1;
        if (attempts < 3) throw new Error(`broker away ${attempts}`);
      },
      { signal: new AbortController().signal, backoff: { initialMs: 1, maxMs: 2 }, logger: { warn: (fields) => void warnings.push(fields) } },
    );
    expect(succeeded).toBe(true);
    expect(attempts).toBe(3);
    expect(warnings).toMatchObject([
      { pattern: 'p', event: 'bus_start_failed', attempt: 1, retry_in_ms: 1 },
      { pattern: 'p', event: 'bus_start_failed', attempt: 2, retry_in_ms: 2 },
    ]);
  });

  it('gives up when stopped while waiting to try again', async () => {
    const aborter = new AbortController();
    const trying = keepTrying(
      'the thing',
      {},
      async () => {
        throw new Error('broker away');
      },
      { signal: aborter.signal, backoff: { initialMs: 60_000, maxMs: 60_000 }, logger: { warn: () => aborter.abort() } },
    );
    await expect(trying).resolves.toBe(false);
  });
});
