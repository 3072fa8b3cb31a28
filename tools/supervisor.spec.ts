import {
  clip,
  decideRestart,
  defaultRestartPolicy,
  describeExit,
  formatDuration,
  lastErrorLine,
  OutputTail,
  pruneExits,
  RestartDecision,
  ServiceExit,
} from './supervisor';

/** Exits of runs that each lasted `runMs`, separated by the delay the policy asked for. */
function crashLoop(count: number, runMs: number, start = 1_000_000): { exits: ServiceExit[]; decisions: RestartDecision[] } {
  const exits: ServiceExit[] = [];
  const decisions: RestartDecision[] = [];
  let startedAt = start;
  for (let i = 0; i < count; i++) {
    exits.push({ startedAt, at: startedAt + runMs, cause: `exit code 1: crash ${i + 1}` });
    const decision = decideRestart(exits);
    decisions.push(decision);
    startedAt += runMs + (decision.action === 'restart' ? decision.delayMs : 0);
  }
  return { exits, decisions };
}

describe('decideRestart', () => {
  it('restarts the first exit after the initial delay', () => {
    expect(decideRestart([{ startedAt: 0, at: 5_000, cause: 'exit code 1' }])).toEqual({ action: 'restart', delayMs: 500 });
  });

  it('doubles the delay for each quick exit and gives up on the fifth within two minutes', () => {
    const { decisions } = crashLoop(5, 1_000);
    expect(decisions.slice(0, 4)).toEqual([500, 1_000, 2_000, 4_000].map((delayMs) => ({ action: 'restart', delayMs })));
    expect(decisions[4]).toEqual({ action: 'give-up', reason: 'failed 5 times in 2 min (last: exit code 1: crash 5)' });
  });

  it('caps the delay and keeps restarting a service that crashes slowly', () => {
    // 40 s runs: never 5 exits within 2 minutes, but never a healthy run either.
    const { decisions } = crashLoop(10, 40_000);
    expect(decisions.every((decision) => decision.action === 'restart')).toBe(true);
    expect(decisions.map((decision) => (decision.action === 'restart' ? decision.delayMs : 0))).toEqual([
      500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000,
    ]);
  });

  it('starts over after a run that lasted long enough', () => {
    const exits: ServiceExit[] = [
      { startedAt: 0, at: 1_000, cause: 'a' },
      { startedAt: 1_500, at: 2_500, cause: 'b' },
      { startedAt: 3_500, at: 3_500 + defaultRestartPolicy.stableAfterMs, cause: 'c' },
    ];
    expect(decideRestart(exits)).toEqual({ action: 'restart', delayMs: 500 });
    // A quick exit right after the healthy run is the second of a new streak.
    const healthyEnd = 3_500 + defaultRestartPolicy.stableAfterMs;
    const next = exits.concat({ startedAt: healthyEnd + 500, at: healthyEnd + 1_500, cause: 'd' });
    expect(decideRestart(next)).toEqual({ action: 'restart', delayMs: 1_000 });
  });

  it('counts only exits inside the window towards giving up', () => {
    const old = [0, 1, 2, 3].map((i): ServiceExit => ({ startedAt: i * 1_000, at: i * 1_000 + 500, cause: 'old' }));
    const later: ServiceExit = { startedAt: 200_000, at: 200_000 + 1_000, cause: 'new' };
    expect(decideRestart([...old, later]).action).toBe('restart');
  });

  it('honours a custom policy', () => {
    const policy = { initialDelayMs: 100, maxDelayMs: 250, stableAfterMs: 10_000, maxExits: 3, windowMs: 30_000 };
    const exits: ServiceExit[] = [
      { startedAt: 0, at: 10, cause: 'x' },
      { startedAt: 110, at: 120, cause: 'x' },
    ];
    expect(decideRestart(exits, policy)).toEqual({ action: 'restart', delayMs: 200 });
    expect(decideRestart([...exits, { startedAt: 400, at: 410, cause: 'signal SIGKILL' }], policy)).toEqual({
      action: 'give-up',
      reason: 'failed 3 times in 30 s (last: signal SIGKILL)',
    });
  });

  it('refuses an empty history', () => {
    expect(() => decideRestart([])).toThrow('at least one exit');
  });
});

describe('pruneExits', () => {
  it('keeps enough history to give the same decision', () => {
    const { exits } = crashLoop(30, 40_000);
    const now = exits[exits.length - 1]?.at ?? 0;
    const pruned = pruneExits(exits, now);
    expect(pruned.length).toBeLessThan(exits.length);
    expect(decideRestart(pruned)).toEqual(decideRestart(exits));
  });
});

describe('describeExit and formatDuration', () => {
  it('names the code or the signal and the last error', () => {
    expect(describeExit(1, null, 'database unreachable')).toBe('exit code 1: database unreachable');
    expect(describeExit(null, 'SIGKILL', undefined)).toBe('signal SIGKILL');
  });

  it('formats durations briefly', () => {
    expect(formatDuration(120_000)).toBe('2 min');
    expect(formatDuration(30_000)).toBe('30 s');
    expect(formatDuration(1_000)).toBe('1.0 s');
    expect(formatDuration(500)).toBe('0.5 s');
  });
});

describe('OutputTail and lastErrorLine', () => {
  it('keeps the last lines only and clips long ones', () => {
    const tail = new OutputTail(3, 10);
    for (const text of ['1', '2', '3', '4', 'x'.repeat(20)]) tail.push('stdout', text);
    expect(tail.recent().map((line) => line.text)).toEqual(['3', '4', `${'x'.repeat(10)}…`]);
    expect(clip('abc', 2)).toBe('ab…');
    tail.clear();
    expect(tail.recent()).toEqual([]);
  });

  it('prefers the last error-level JSON log line, summarised', () => {
    const tail = new OutputTail();
    tail.push('stdout', '{"level":"error","msg":"boot failed","err":{"message":"ECONNREFUSED 127.0.0.1:5432"}}');
    tail.push('stdout', '{"level":"info","msg":"shutting down"}');
    expect(lastErrorLine(tail.recent())).toBe('boot failed: ECONNREFUSED 127.0.0.1:5432');
  });

  it('summarises a long fatal line with a stack and no msg by its error message', () => {
    const stack = 'Error: listen EADDRINUSE\n    at Server.setupListenHandle'.repeat(20);
    const line = JSON.stringify({ level: 'fatal', event: 'boot_failed', err: { message: 'listen EADDRINUSE', stack } });
    expect(lastErrorLine([{ stream: 'stdout', text: line }])).toBe('listen EADDRINUSE');
    expect(lastErrorLine([{ stream: 'stdout', text: '{"level":"error","msg":"Error: listen EADDRINUSE","err":{"message":"listen EADDRINUSE"}}' }])).toBe(
      'Error: listen EADDRINUSE',
    );
  });

  it('falls back to the last stderr line, then to the last line', () => {
    expect(lastErrorLine([{ stream: 'stderr', text: 'TypeError: x is undefined' }, { stream: 'stdout', text: 'bye' }])).toBe(
      'TypeError: x is undefined',
    );
    expect(lastErrorLine([{ stream: 'stdout', text: '{"level":"info","msg":"listening"}' }])).toBe('listening');
    expect(lastErrorLine([])).toBeUndefined();
  });
});
