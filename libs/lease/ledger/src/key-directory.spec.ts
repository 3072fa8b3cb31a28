import type { LeaseEvent, LedgerEvent } from '@license-ledger/lease-domain';
import type { MessageBus, PartitionedMessage, PartitionRange, ReadRangesOptions, ReceivedMessage, SubscribeOptions, Subscription } from '@license-ledger/platform-kafka';
import { KeyBindingDirectory, KeyDirectory } from './key-directory';
import { keyDirectoryBackfill, keyDirectoryChanges } from './key-directory-records';
import { PartitionLedger } from './partition-ledger';
import { encodeJson } from './records';

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');
const meta = { requestId: 'r', at: 1 };
const bound = (agreementId: string, key: string, at = 1): LeaseEvent => ({ type: 'KeyBound', data: { agreementId, key }, metadata: { requestId: 'r', at } });
const revoked = (agreementId: string, key: string): LeaseEvent => ({ type: 'KeyRevoked', data: { agreementId, key }, metadata: meta });
const closed = (agreementId: string): LeaseEvent => ({ type: 'AgreementClosed', data: { agreementId }, metadata: meta });

function message(partition: number, offset: number, value: unknown, headers: Record<string, string> = {}): ReceivedMessage {
  return { topic: 'events', partition, offset: String(offset), timestampMs: 0, key: null, value: Buffer.isBuffer(value) ? value : encodeJson(value), headers };
}

/** A bus whose history is `history` and whose live subscription the test drives. */
class FakeBus {
  live: SubscribeOptions | undefined;
  readonly seeks: Array<[number, string]> = [];
  constructor(private readonly history: ReceivedMessage[], private readonly ends: Record<number, number>) {}
  async partitionRanges(): Promise<PartitionRange[]> {
    return Object.entries(this.ends).map(([partition, end]) => ({ partition: Number(partition), start: '0', end: String(end) }));
  }
  async readRanges(options: ReadRangesOptions): Promise<void> {
    for (const range of options.ranges) {
      await options.onMessages(this.history.filter((m) => m.partition === range.partition));
      options.onPosition?.(range.partition, range.end);
    }
  }
  async subscribe(options: SubscribeOptions): Promise<Subscription> {
    this.live = options;
    return { seek: (_topic, partition, offset) => void this.seeks.push([partition, offset]), state: () => ({ kind: 'reading' }), probe: async () => undefined, stop: async () => undefined };
  }
}

describe('KeyDirectory', () => {
  it('folds bindings, revocations and closed agreements', () => {
    const directory = new KeyDirectory({ bus: {} as MessageBus, eventsTopic: 'events', groupId: 'g' });
    directory.apply(bound('a1', KEY_A));
    directory.apply(bound('a1', KEY_B));
    expect(directory.agreementOf(KEY_A)).toBe('a1');
    directory.apply(revoked('a1', KEY_A));
    expect(directory.agreementOf(KEY_A)).toBeUndefined();
    expect(directory.agreementOf(KEY_B)).toBe('a1');
    directory.apply(revoked('other', KEY_B));
    expect(directory.agreementOf(KEY_B)).toBe('a1');
    directory.apply(bound('a2', KEY_A));
    directory.apply(closed('a1'));
    expect(directory.agreementOf(KEY_B)).toBeUndefined();
    expect(directory.agreementOf(KEY_A)).toBe('a2');
    expect(directory.size).toBe(1);
  });

  it('gives one answer per key whichever partition it reads first: a revocation read after the next binding', () => {
    // Real order: bound to a1 (partition 0) at 1, revoked there at 2, bound to a2 (partition 1) at 3.
    // A reader ahead on partition 1 sees the new binding before the old one ends.
    const directory = new KeyDirectory({ bus: {} as MessageBus, eventsTopic: 'events', groupId: 'g' });
    directory.apply(bound('a2', KEY_A, 3));
    directory.apply(bound('a1', KEY_A, 1));
    expect(directory.agreementOf(KEY_A)).toBe('a2');
    directory.apply({ type: 'KeyRevoked', data: { agreementId: 'a1', key: KEY_A }, metadata: { requestId: 'r', at: 2 } });
    expect(directory.agreementOf(KEY_A)).toBe('a2');
    expect(directory.size).toBe(1);
    // Events of the key's own stream say nothing the bindings do not: ignored.
    directory.apply({ type: 'KeyReleased', data: { key: KEY_A, agreementId: 'a2' }, metadata: meta });
    expect(directory.agreementOf(KEY_A)).toBe('a2');
  });

  it('reads the history before it is ready, then follows the topic from where the history ended', async () => {
    const history = [
      message(0, 0, bound('a1', KEY_A)),
      message(0, 1, { type: 'PartitionClaimed', data: { partition: 0, owner: 'x', claimId: 'c' }, metadata: { at: 1 } }),
      message(1, 5, bound('a2', KEY_B)),
      message(1, 6, Buffer.from('not json')),
    ];
    const bus = new FakeBus(history, { 0: 3, 1: 8 });
    const malformed: string[] = [];
    const directory = new KeyDirectory({ bus: bus as unknown as MessageBus, eventsTopic: 'events', groupId: 'g', onMalformed: (m) => malformed.push(m.offset) });
    expect(directory.ready).toBe(false);
    await directory.start();
    expect(directory.ready).toBe(true);
    expect(directory.agreementOf(KEY_A)).toBe('a1');
    expect(directory.agreementOf(KEY_B)).toBe('a2');
    expect(malformed).toEqual(['6']);
    expect(bus.seeks).toEqual([[0, '3'], [1, '8']]);
    // The group's first fetch may start at 0 before the seek lands: old records are not re-applied.
    await bus.live?.onMessages([message(0, 0, bound('a1', KEY_A)), message(0, 3, revoked('a1', KEY_A))], { topic: 'events', partition: 0, isCurrent: () => true, deadLetter: () => undefined });
    expect(directory.agreementOf(KEY_A)).toBeUndefined();
    await bus.live?.onMessages([message(0, 0, bound('a1', KEY_A))], { topic: 'events', partition: 0, isCurrent: () => true, deadLetter: () => undefined });
    expect(directory.agreementOf(KEY_A)).toBeUndefined();
  });

  it('decodes only the event types that bind keys, by their type label', () => {
    const malformed: string[] = [];
    const directory = new KeyDirectory({ bus: {} as MessageBus, eventsTopic: 'events', groupId: 'g', onMalformed: (m) => malformed.push(m.offset) });
    directory.applyMessages([
      // A renewal is skipped unread: a body that would not decode shows it was never parsed.
      message(0, 0, Buffer.from('not json'), { type: 'LockRenewed' }),
      message(0, 1, bound('a1', KEY_A), { type: 'KeyBound' }),
      message(0, 2, Buffer.from('not json'), { type: 'KeyRevoked' }),
      message(0, 3, bound('a1', KEY_B)),
    ]);
    expect(malformed).toEqual(['2']);
    expect(directory.agreementOf(KEY_A)).toBe('a1');
    expect(directory.agreementOf(KEY_B)).toBe('a1');
  });
});

describe('the key directory topic: records written with the events, and the ingress reading them', () => {
  const event = (type: 'KeyBound' | 'KeyRevoked', agreementId: string, key: string): LedgerEvent => ({ type, data: { agreementId, key }, metadata: meta });
  const closedEvent = (agreementId: string): LedgerEvent => ({ type: 'AgreementClosed', data: { agreementId }, metadata: meta });
  const asReceived = (records: readonly PartitionedMessage[]): ReceivedMessage[] =>
    records.map((r, offset) => ({ topic: 'keys', partition: 0, offset: String(offset), timestampMs: 0, key: r.key, value: r.tombstone ? Buffer.alloc(0) : r.value, headers: {} }));

  function ledgerAfter(events: readonly LedgerEvent[]): PartitionLedger {
    const ledger = new PartitionLedger(0);
    ledger.decideAndApply({ type: 'OpenAgreement', data: { agreementId: 'a1', name: 'A', licenses: 1 }, metadata: { requestId: 'open-a1' } }, 1);
    ledger.decideAndApply({ type: 'OpenAgreement', data: { agreementId: 'a2', name: 'B', licenses: 1 }, metadata: { requestId: 'open-a2' } }, 1);
    for (const e of events) {
      if (e.type === 'KeyBound') ledger.decideAndApply({ type: 'BindReservedKey', data: e.data, metadata: { requestId: `bind-${e.data.key}-${e.data.agreementId}` } }, 2);
      if (e.type === 'KeyRevoked') ledger.decideAndApply({ type: 'RevokeKey', data: e.data, metadata: { requestId: `revoke-${e.data.key}` } }, 3);
      if (e.type === 'AgreementClosed') ledger.decideAndApply({ type: 'CloseAgreement', data: e.data, metadata: { requestId: `close-${e.data.agreementId}` } }, 4);
    }
    return ledger;
  }

  it('binds with a record per key, unbinds with a tombstone, and unbinds a closed agreement\'s keys', () => {
    const events = [event('KeyBound', 'a1', KEY_A), event('KeyBound', 'a2', KEY_B), event('KeyRevoked', 'a1', KEY_A), closedEvent('a2')];
    const records = keyDirectoryChanges(events, ledgerAfter(events));
    expect(records.map((r) => [r.key, r.tombstone === true ? null : JSON.parse(r.value.toString('utf8'))])).toEqual([
      [KEY_A, { v: 1, agreementId: 'a1' }],
      [KEY_B, { v: 1, agreementId: 'a2' }],
      [KEY_A, null],
      [KEY_B, null],
    ]);
    const directory = new KeyBindingDirectory();
    directory.applyRecords(asReceived(records.slice(0, 2)));
    expect(directory.entries()).toEqual(new Map([[KEY_A, 'a1'], [KEY_B, 'a2']]));
    directory.applyRecords(asReceived(records.slice(2)));
    expect(directory.size).toBe(0);
  });

  it('backfills the bindings of open agreements only', () => {
    const events = [event('KeyBound', 'a1', KEY_A), event('KeyBound', 'a2', KEY_B), closedEvent('a2')];
    const directory = new KeyBindingDirectory();
    directory.applyRecords(asReceived(keyDirectoryBackfill(ledgerAfter(events))));
    expect(directory.entries()).toEqual(new Map([[KEY_A, 'a1']]));
  });

  it('skips a record it cannot read, saying so, and reads on', () => {
    const malformed: string[] = [];
    const directory = new KeyBindingDirectory((m) => malformed.push(m.offset));
    const good = keyDirectoryBackfill(ledgerAfter([event('KeyBound', 'a1', KEY_A)]));
    directory.applyRecords([
      ...asReceived([{ key: KEY_B, value: Buffer.from('{"v":2,"agreementId":"a9"}') }, { key: null, value: Buffer.from('{}') }]),
      ...asReceived(good).map((m) => ({ ...m, offset: '9' })),
    ]);
    expect(malformed).toEqual(['0', '1']);
    expect(directory.entries()).toEqual(new Map([[KEY_A, 'a1']]));
  });
});
