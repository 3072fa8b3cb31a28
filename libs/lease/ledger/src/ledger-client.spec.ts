import type { LeaseCommand } from '@license-ledger/lease-domain';
import type { MessageBus, OutgoingMessage } from '@license-ledger/platform-kafka';
import { LedgerClient, LedgerTimeoutError } from './ledger-client';

/** A publish the test settles by hand: a broker that is away, then answers or fails. */
function stalledBus(): { bus: MessageBus; published: OutgoingMessage[]; fail(error: Error): void } {
  const published: OutgoingMessage[] = [];
  let rejectPublish: (error: Error) => void = () => undefined;
  const bus = {
    publish: (_topic: string, messages: readonly OutgoingMessage[]) => {
      published.push(...messages);
      return new Promise<void>((_resolve, reject) => (rejectPublish = reject));
    },
  } as unknown as MessageBus;
  return { bus, published, fail: (error) => rejectPublish(error) };
}

const command = {
  type: 'AcquireLock',
  data: { agreementId: 'acme' },
  metadata: { requestId: 'req-1' },
} as unknown as LeaseCommand;

describe('LedgerClient.send while the broker is away', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => process.off('unhandledRejection', onUnhandled));

  it('rejects with LedgerTimeoutError at the timeout, though the publish has not finished, and a later publish failure goes nowhere', async () => {
    const { bus, published, fail } = stalledBus();
    const client = new LedgerClient({ bus, topics: { commands: 'c', events: 'e', replies: 'r' }, instanceId: 'ingress-1', groupPrefix: 'g' });
    const started = Date.now();
    await expect(client.send(command, 50)).rejects.toBeInstanceOf(LedgerTimeoutError);
    expect(Date.now() - started).toBeLessThan(1_000);
    fail(new Error('broker gone'));
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(unhandled).toEqual([]);
    // The command carries the instant its asker stops waiting, so the ledger never decides it later.
    const envelope = JSON.parse((published[0] as OutgoingMessage).value.toString('utf8')) as { deadlineMs: number };
    expect(envelope.deadlineMs).toBeGreaterThanOrEqual(started + 50);
    expect(envelope.deadlineMs).toBeLessThanOrEqual(Date.now());
  });

  it('rejects with the publish error when the publish fails first', async () => {
    const { bus, fail } = stalledBus();
    const client = new LedgerClient({ bus, topics: { commands: 'c', events: 'e', replies: 'r' }, instanceId: 'ingress-1', groupPrefix: 'g' });
    const sent = client.send(command, 10_000);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    fail(new Error('broker gone'));
    await expect(sent).rejects.toThrow('broker gone');
  });
});
