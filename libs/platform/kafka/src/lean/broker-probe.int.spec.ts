import { createServer } from 'node:net';
import { anyBrokerAnswers } from './broker-probe';

/** The readiness fallback of MessageBus.ping on the real broker: any broker that answers makes the cluster reachable. */
const brokersVar = process.env['KAFKA_BROKERS'];
if (!brokersVar) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts a broker');
const brokers = brokersVar.split(',');

/** An address nobody listens on (a port just freed). */
async function goneBroker(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `127.0.0.1:${address.port}`;
}

describe('anyBrokerAnswers', () => {
  it('is true when one broker of the list answers, though another is gone', async () => {
    expect(await anyBrokerAnswers([await goneBroker(), ...brokers], 'probe-test', 2_000)).toBe(true);
  });

  it('is false when none answers', async () => {
    expect(await anyBrokerAnswers([await goneBroker(), await goneBroker()], 'probe-test', 2_000)).toBe(false);
  });
});
