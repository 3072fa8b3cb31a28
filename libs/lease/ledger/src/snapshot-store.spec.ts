import type { MessageBus, PartitionedMessage, TopicMessages, Transaction, WrittenBatch } from '@license-ledger/platform-kafka';
import { PartitionLedger } from './partition-ledger';
import { decodeSnapshotBody } from './snapshot-codec';
import { MANIFEST_TYPE, SNAPSHOT_CHUNK_BYTES, sha256Hex } from './snapshot-records';
import { prepareSnapshot, SnapshotStore } from './snapshot-store';

/** A transaction that records what is sent to each topic and hands out consecutive offsets. */
class RecordingTransaction implements Transaction {
  readonly sends: Array<{ topic: string; messages: readonly PartitionedMessage[] }> = [];
  private next = 100;

  async send(topic: string, messages: readonly PartitionedMessage[]): Promise<readonly WrittenBatch[]> {
    this.sends.push({ topic, messages });
    const baseOffset = String(this.next);
    this.next += messages.length;
    return [{ topic, partition: messages[0]?.partition ?? 0, baseOffset }];
  }

  async sendAll(batches: readonly TopicMessages[]): Promise<readonly WrittenBatch[]> {
    return (await Promise.all(batches.map((b) => this.send(b.topic, b.messages)))).flat();
  }

  async commitConsumerOffsets(): Promise<void> {
    throw new Error('a snapshot commits no offsets');
  }
}

describe('SnapshotStore.write', () => {
  const store = new SnapshotStore({} as MessageBus, 'snapshots', 'events');

  it('sends each chunk on its own, tombstones the chunks an older snapshot had beyond its own, then the manifest', async () => {
    const prepared = { partition: 4, body: Buffer.alloc(SNAPSHOT_CHUNK_BYTES + 5, 1), takenAtMs: 1_700_000_000_000 };
    const tx = new RecordingTransaction();
    const manifest = await store.write(tx, prepared, 1234n, 4);
    expect(tx.sends.map((s) => [s.topic, s.messages.map((m) => [m.key, m.partition, m.tombstone === true, m.headers?.['type']])])).toEqual([
      ['snapshots', [['4.0', 4, false, 'SnapshotChunk']]],
      ['snapshots', [['4.1', 4, false, 'SnapshotChunk']]],
      ['snapshots', [['4.2', 4, true, undefined], ['4.3', 4, true, undefined]]],
      ['snapshots', [['4', 4, false, MANIFEST_TYPE]]],
    ]);
    expect(manifest).toEqual({
      format: 'license-ledger.partition-snapshot',
      version: 1,
      eventsTopic: 'events',
      partition: 4,
      coveredOffset: '1234',
      takenAtMs: 1_700_000_000_000,
      bodyBytes: SNAPSHOT_CHUNK_BYTES + 5,
      sha256: sha256Hex(prepared.body),
      chunkOffsets: ['100', '101'],
    });
    expect(JSON.parse(tx.sends[3]?.messages[0]?.value.toString('utf8') ?? '')).toEqual(manifest);
  });

  it('encodes the ledger as it is when asked: later changes are not in the snapshot', () => {
    const ledger = new PartitionLedger(2);
    ledger.decideAndApply({ type: 'OpenAgreement', data: { agreementId: 'a', name: 'A', licenses: 1 }, metadata: { requestId: 'r1' } }, 1);
    const prepared = prepareSnapshot(ledger, 5);
    ledger.decideAndApply({ type: 'OpenAgreement', data: { agreementId: 'b', name: 'B', licenses: 1 }, metadata: { requestId: 'r2' } }, 2);
    expect(prepared).toMatchObject({ partition: 2, takenAtMs: 5 });
    const state = decodeSnapshotBody(prepared.body);
    expect([...state.agreements.keys()]).toEqual(['a']);
    expect([...state.outcomes.keys()]).toEqual(['r1']);
  });
});
