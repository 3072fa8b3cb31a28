import { createServer } from 'node:net';
import { eventually, freePort, integrationEnv } from './index';

describe('test helpers', () => {
  it('freePort gives a port that can be listened on', async () => {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('eventually returns the first value and names what it waited for on timeout', async () => {
    let calls = 0;
    await expect(eventually('three calls', 1_000, async () => (++calls >= 3 ? calls : undefined))).resolves.toBe(3);
    await expect(eventually('nothing', 150, async () => undefined)).rejects.toThrow('timed out waiting for nothing');
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
