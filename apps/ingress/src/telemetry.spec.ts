import type { MessagePublisher, OutgoingMessage } from '@license-ledger/platform-kafka';
import { TelemetryPublisher } from './telemetry';

describe('TelemetryPublisher', () => {
  it('publishes off the caller, in batches, one publish at a time', async () => {
    const batches: OutgoingMessage[][] = [];
    let release: () => void = () => undefined;
    const bus: MessagePublisher = {
      publish: async (_topic, messages) => {
        batches.push([...messages]);
        await new Promise<void>((resolve) => (release = resolve));
      },
    };
    const publisher = new TelemetryPublisher({ bus, topic: 't' });
    publisher.enqueue('s1', { n: 1 });
    publisher.enqueue('s2', { n: 2 });
    expect(batches).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((b) => b.length)).toEqual([2]);
    publisher.enqueue('s3', { n: 3 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((b) => b.length)).toEqual([2]);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches.map((b) => b.length)).toEqual([2, 1]);
    expect(batches[1]?.[0]).toEqual({ key: 's3', value: Buffer.from('{"n":3}') });
    release();
    await publisher.flush();
    expect(publisher.published).toBe(3);
  });

  it('drops (and counts) what it cannot publish or queue', async () => {
    const errors: number[] = [];
    const publisher = new TelemetryPublisher({ bus: { publish: async () => Promise.reject(new Error('down')) }, topic: 't', maxQueued: 2, onError: (_e, n) => errors.push(n) });
    for (let i = 0; i < 3; i++) publisher.enqueue(null, { i });
    await publisher.flush();
    expect(errors).toEqual([2]);
    expect(publisher.dropped).toBe(3);
  });
});
