import { BatchRunner, BatchRunOptions } from './batch-runner';
import { ReceivedMessage } from './message-bus';

const records = (n: number): ReceivedMessage[] =>
  Array.from({ length: n }, (_, i) => ({ topic: 't', partition: 0, offset: String(i), timestampMs: 0, key: null, value: Buffer.from(String(i)), headers: {} }));

const quiet = { error: jest.fn(), warn: jest.fn() };

function runner(handle: BatchRunOptions['handle'], overrides: Partial<BatchRunOptions> = {}): BatchRunner {
  return new BatchRunner({ handle, attempts: 3, active: () => true, heartbeat: async () => undefined, logger: quiet, fields: {}, initialBackoffMs: 1, maxBackoffMs: 2, ...overrides });
}

const offsets = (messages: readonly ReceivedMessage[]): string[] => messages.map((m) => m.offset);

describe('BatchRunner', () => {
  it('isolates a failing record by splitting, processes every other record once, in order', async () => {
    const processed: string[] = [];
    const calls: string[][] = [];
    const result = await runner(async (messages) => {
      calls.push(offsets(messages));
      if (messages.some((m) => m.offset === '5')) throw new Error('bigint out of range');
      processed.push(...offsets(messages));
    }).run(records(8));
    expect(result?.map((p) => p.message.offset)).toEqual(['5']);
    expect(result?.[0]?.reason).toBe('Error: bigint out of range');
    expect(processed).toEqual(['0', '1', '2', '3', '4', '6', '7']);
    // The whole batch and the lone record get 3 tries each; parts in between one.
    expect(calls.filter((c) => c.length === 8)).toHaveLength(3);
    expect(calls.filter((c) => c.length === 1 && c[0] === '5')).toHaveLength(3);
  });

  it('retries transient failures without skipping or dead-lettering anything', async () => {
    let failures = 0;
    const processed: string[] = [];
    const result = await runner(async (messages) => {
      if (failures++ < 5) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      processed.push(...offsets(messages));
    }).run(records(4));
    expect(result).toEqual([]);
    expect(processed).toEqual(['0', '1', '2', '3']);
    expect(failures).toBe(6);
  });

  it('without dead-lettering retries a failing batch until it passes', async () => {
    let calls = 0;
    const result = await runner(
      async () => {
        if (++calls < 6) throw new Error('not yet');
      },
      { attempts: undefined },
    ).run(records(3));
    expect(result).toEqual([]);
    expect(calls).toBe(6);
  });

  it('gives up the batch when it stops being current, without dead letters', async () => {
    let active = true;
    let calls = 0;
    const result = await runner(
      async () => {
        calls++;
        active = false;
        throw new Error('bigint out of range');
      },
      { active: () => active },
    ).run(records(2));
    expect(result).toBeUndefined();
    expect(calls).toBe(1);
  });

  it('returns records the handler reports as poison, but only from the try that succeeded', async () => {
    let calls = 0;
    const result = await runner(async (messages, report) => {
      for (const m of messages) if (m.offset === '1') report(m, 'malformed');
      if (++calls === 1) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
    }).run(records(3));
    expect(result).toEqual([{ message: records(3)[1], reason: 'malformed' }]);
  });

  it('heartbeats while a long handler runs, and stops when it is done', async () => {
    jest.useFakeTimers();
    try {
      const heartbeat = jest.fn(async () => undefined);
      let finish: () => void = () => undefined;
      const running = runner(() => new Promise<void>((resolve) => (finish = resolve)), { heartbeat, heartbeatWhileHandlingMs: 1_000 }).run(records(2));
      await jest.advanceTimersByTimeAsync(3_500);
      expect(heartbeat).toHaveBeenCalledTimes(3);
      finish();
      await expect(running).resolves.toEqual([]);
      await jest.advanceTimersByTimeAsync(5_000);
      expect(heartbeat).toHaveBeenCalledTimes(3);
    } finally {
      jest.useRealTimers();
    }
  });

  it('lets a heartbeat failure (rebalance) through', async () => {
    await expect(
      runner(
        async () => {
          throw new Error('boom');
        },
        { heartbeat: async () => Promise.reject(new Error('The group is rebalancing')) },
      ).run(records(2)),
    ).rejects.toThrow('rebalancing');
  });
});
