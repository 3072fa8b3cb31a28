import { REQUEST_MEMORY_MS, REQUEST_TIME_WINDOW_MS, requestTimeProblem } from './request-time';
import { T0 } from './testing/fixtures';

describe('requestTimeProblem', () => {
  it('accepts a request time within the window on either side, and a command that carries none', () => {
    for (const skew of [-REQUEST_TIME_WINDOW_MS, -1, 0, 1, REQUEST_TIME_WINDOW_MS]) {
      expect(requestTimeProblem({ requestId: 'r', requestedAt: T0 + skew }, T0)).toBeUndefined();
    }
    expect(requestTimeProblem({ requestId: 'r' }, T0)).toBeUndefined();
  });

  it('refuses one outside it, saying how far and which way', () => {
    expect(requestTimeProblem({ requestId: 'r', requestedAt: T0 + REQUEST_TIME_WINDOW_MS + 1_000 }, T0)).toBe(
      "the request time is 361 s ahead of the ledger's clock; at most 360 s is accepted",
    );
    expect(requestTimeProblem({ requestId: 'r', requestedAt: T0 - REQUEST_TIME_WINDOW_MS - 1 }, T0)).toMatch(/360 s behind/);
  });

  it('remembers request ids for the whole span in which one request can be accepted: two windows', () => {
    // Stamped t, accepted at t - window (first) and at t + window (replay): 2 windows apart.
    expect(REQUEST_MEMORY_MS).toBe(2 * REQUEST_TIME_WINDOW_MS);
    expect(REQUEST_TIME_WINDOW_MS).toBeGreaterThanOrEqual(300_000 + 60_000);
  });
});
