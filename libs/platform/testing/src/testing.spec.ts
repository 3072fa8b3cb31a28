import { createServer } from 'node:net';
import { eventually, freePort, GiveUp, integrationEnv } from './index';

describe('test helpers', () => {
  it('freePort gives a port that can be listened on', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    expect(server.address()).toMatchObject({ address: '127.0.0.1', port });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('eventually returns the first value and names what it waited for on timeout', async () => {
    let calls = 0;
    await expect(eventually('three calls', 1_000, async () => (++calls >= 3 ? calls : undefined))).resolves.toBe(3);
    await expect(eventually('nothing', 150, async () => undefined)).rejects.toThrow(/^timed out after 150 ms \(\d+ attempts\) waiting for nothing$/);
  });

  it('eventually retries a throwing probe and puts its last error in the timeout message', async () => {
    let calls = 0;
    await expect(
      eventually('a flaky probe', 1_000, async () => {
        if (++calls < 3) throw new Error('not yet');
        return 'done';
      }),
    ).resolves.toBe('done');
    calls = 0;
    await expect(
      eventually('a broken probe', 150, async () => {
        throw new Error(`connection refused #${++calls}`);
      }),
    ).rejects.toThrow(/^timed out after 150 ms \(\d+ attempts\) waiting for a broken probe; the probe last threw at attempt \d+: Error: connection refused #\d+/);
  });

  it('eventually stops at once when the probe gives up', async () => {
    const started = Date.now();
    let calls = 0;
    const waiting = eventually('a decision', 60_000, async (fail) => (++calls === 2 ? fail('it was denied') : undefined));
    await expect(waiting).rejects.toThrow(new GiveUp('gave up waiting for a decision: it was denied'));
    expect(calls).toBe(2);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect(
      eventually('anything', 60_000, async () => {
        throw new GiveUp('the service exited');
      }),
    ).rejects.toBeInstanceOf(GiveUp);
  });

  it('integrationEnv explains how to get a broker and a database', () => {
    const saved = process.env['KAFKA_BROKERS'];
    delete process.env['KAFKA_BROKERS'];
    try {
      expect(() => integrationEnv()).toThrow(/run `npm test`/);
    } finally {
      if (saved !== undefined) process.env['KAFKA_BROKERS'] = saved;
    }
  });
});
