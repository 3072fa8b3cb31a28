import { BatchingPublisher } from './batching-publisher';
import type { MessagePublisher, OutgoingMessage } from './message-bus';

const message = (n: number): OutgoingMessage => ({ key: `k${n}`, value: Buffer.from(String(n)) });

describe('BatchingPublisher', () => {
  it('sends what queued during a publish in the next one, and settles each send with its batch', async () => {
    const batches: number[] = [];
    let fail = true;
    const bus: MessagePublisher = {
      publish: async (_topic, messages) => {
        batches.push(messages.length);
        await new Promise((resolve) => setImmediate(resolve));
        if (fail) {
          fail = false;
          throw new Error('broker away');
        }
      },
    };
    const reported: Array<[number, boolean]> = [];
    const publisher = new BatchingPublisher(bus, 't', (n, error) => reported.push([n, error !== undefined]));
    const first = publisher.send(message(1));
    await new Promise((resolve) => setImmediate(resolve));
    const later = [publisher.send(message(2)), publisher.send(message(3))];
    await expect(first).rejects.toThrow('broker away');
    await Promise.all(later);
    await publisher.flush();
    expect(batches).toEqual([1, 2]);
    expect(reported).toEqual([[1, true], [2, false]]);
    expect(publisher.queued).toBe(0);
  });
});
