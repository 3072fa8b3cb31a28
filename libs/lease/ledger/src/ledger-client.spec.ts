import type { LeaseCommand } from '@license-ledger/lease-domain';
import type { MessageBus, OutgoingMessage, ReceivedMessage } from '@license-ledger/platform-kafka';
import { LedgerClient, LedgerTimeoutError, replyReader } from './ledger-client';
import { encodeJson } from './records';

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

describe('LedgerClient.receive', () => {
  /** A publish that is acknowledged at once: the broker is there. */
  const acceptingBus = { publish: async () => undefined } as unknown as MessageBus;
  const reply = (key: string, requestId: string, kind: string): ReceivedMessage => ({
    topic: 'r',
    partition: 0,
    offset: '0',
    timestampMs: 0,
    key,
    value: encodeJson({ requestId, agreementId: 'acme', outcome: { kind } }),
    headers: {},
  });

  it('settles the request a reply to this instance answers, and leaves replies to other instances alone', async () => {
    const client = new LedgerClient({ bus: acceptingBus, topics: { commands: 'c', events: 'e', replies: 'r' }, instanceId: 'ingress-1', groupPrefix: 'g' });
    const dead: string[] = [];
    const answered = client.send(command, 10_000);
    // Another instance sharing the partition was asked the same request id: not our answer.
    client.receive([reply('ingress-2', 'req-1', 'denied'), reply('ingress-1', 'req-1', 'accepted')], { deadLetter: (_m, reason) => void dead.push(reason) });
    await expect(answered).resolves.toEqual({ kind: 'accepted' });
    expect(dead).toEqual([]);
  });

  it('dead-letters a reply it cannot read and reads on; a late reply finds nobody waiting', async () => {
    const client = new LedgerClient({ bus: acceptingBus, topics: { commands: 'c', events: 'e', replies: 'r' }, instanceId: 'ingress-1', groupPrefix: 'g' });
    const dead: string[] = [];
    await expect(client.send(command, 20)).rejects.toBeInstanceOf(LedgerTimeoutError);
    const garbage: ReceivedMessage = { ...reply('ingress-1', 'x', 'x'), value: Buffer.from('{not json') };
    client.receive([garbage, reply('ingress-1', 'req-1', 'accepted')], { deadLetter: (_m, reason) => void dead.push(reason) });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatch(/^malformed reply: /);
  });

  it('names its reply reader after the instance, keyed by its id', () => {
    expect(replyReader({ instanceId: 'ingress-1', groupPrefix: 'license-ledger.ingress' })).toEqual({
      key: 'ingress-1',
      name: 'license-ledger.ingress.replies.ingress-1',
      deadLetterTopic: 'license-ledger.dead-letters',
    });
  });
});
