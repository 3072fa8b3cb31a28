import { LedgerEvent } from '@license-ledger/lease-domain';
import { DeadLetterHeaders, ReceivedMessage } from '@license-ledger/platform-kafka';
import {
  batchMessages,
  eventsEnd,
  initialOffsetProgress,
  OFFSET_COMMIT_INTERVAL_MS,
  OffsetProgress,
  offsetsDueWhileQuiet,
  PendingBatch,
  planWrite,
  progressAfterWrite,
  resumeOffset,
} from './pending-batch';

const source = { topic: 'commands', partition: 2 };
const target = { partition: 2, topics: { commands: 'commands', events: 'events', replies: 'replies' }, groupId: 'lease', deadLetterTopic: 'dead' };

function received(offset: number): ReceivedMessage {
  return { topic: 'commands', partition: 2, offset: String(offset), timestampMs: 0, key: 'agr-1', value: Buffer.from('{}'), headers: {} };
}

const opened = (requestId: string): LedgerEvent =>
  ({ type: 'AgreementOpened', data: { agreementId: 'agr-1', name: 'Acme', licenses: 1 }, metadata: { requestId, at: 1 } }) as unknown as LedgerEvent;
const reply = { key: 'ingress-1', value: Buffer.from('"reply"') };
const followUp = { key: 'key-1', value: Buffer.from('"follow-up"') };

function decided(options: { unrecorded?: boolean; events?: LedgerEvent[] } = {}) {
  return { kind: 'decided', events: options.events ?? [opened('r1')], replies: [reply], commands: [followUp], unrecorded: options.unrecorded ?? false } as const;
}

function batchOf(...decisions: Array<Parameters<PendingBatch['add']>[1]>): PendingBatch {
  const batch = new PendingBatch();
  const messages = decisions.map((_, i) => received(10 + i));
  batch.consume(source, messages);
  decisions.forEach((decision, i) => batch.add(messages[i] as ReceivedMessage, decision));
  return batch;
}

const consumedAt = (offset: number) => ({ topic: 'commands', partition: 2, offset: String(offset) });
const progress = (overrides: Partial<OffsetProgress> = {}): OffsetProgress => ({ uncommitted: undefined, committedAt: 1_000, wroteAt: 1_000, ...overrides });

describe('PendingBatch', () => {
  it('gathers decisions in order and remembers the first command and where consumption stands', () => {
    const batch = batchOf(decided(), decided({ events: [opened('r2')] }));
    batch.consume(source, [received(12)]);
    expect(batch.events.map((e) => e.metadata.requestId)).toEqual(['r1', 'r2']);
    expect(batch.replies).toEqual([reply, reply]);
    expect(batch.commands).toEqual([followUp, followUp]);
    expect(batch.firstCommand).toBe(10n);
    expect(batch.consumed).toEqual(consumedAt(13));
    expect(batch.size).toBe(6);
    expect(batch.offsetCommit).toBe('when-due');
  });

  it.each([
    ['an unrecorded acceptance', decided({ unrecorded: true, events: [] })],
    ['an expired command', { kind: 'expired', requestId: 'r', lateMs: 5 } as const],
    ['a dead letter', { kind: 'deadLetter', reason: 'malformed command: x' } as const],
  ])('commits the offsets with the batch that holds %s', (_, decision) => {
    expect(batchOf(decided(), decision).offsetCommit).toBe('with-this-batch');
  });

  it('keeps dead letters apart from the records back-pressure counts', () => {
    const batch = batchOf({ kind: 'deadLetter', reason: 'misrouted command' });
    expect(batch.deadLetters).toEqual([{ message: received(10), reason: 'misrouted command' }]);
    expect(batch.size).toBe(0);
    expect(batch.isEmpty).toBe(false);
  });

  it('settles its promise once, with the error of a failed write', async () => {
    const batch = new PendingBatch();
    batch.settle(new Error('lost'));
    batch.settle();
    await expect(batch.written).rejects.toThrow('lost');
  });
});

describe('planning a write', () => {
  it('writes records without offsets while the last commit is recent', () => {
    const batch = batchOf(decided());
    expect(planWrite(batch, progress(), 1_000 + OFFSET_COMMIT_INTERVAL_MS - 1)).toEqual({ kind: 'write', offsets: [], consumed: consumedAt(11) });
  });

  it('commits the offsets with the records once the interval has passed, or when the batch asks', () => {
    expect(planWrite(batchOf(decided()), progress(), 1_000 + OFFSET_COMMIT_INTERVAL_MS)).toEqual({ kind: 'write', offsets: [consumedAt(11)], consumed: consumedAt(11) });
    const asking = batchOf(decided({ unrecorded: true }));
    expect(planWrite(asking, progress(), 1_001)).toMatchObject({ kind: 'write', offsets: [consumedAt(11)] });
  });

  it('skips a batch with nothing to write, remembering where consumption stands', () => {
    const batch = new PendingBatch();
    batch.consume(source, [received(20)]);
    expect(planWrite(batch, progress({ uncommitted: consumedAt(5) }), 1_001)).toEqual({ kind: 'skip', progress: progress({ uncommitted: consumedAt(21) }) });
    expect(planWrite(new PendingBatch(), progress(), 1_001)).toEqual({ kind: 'skip', progress: progress() });
  });

  it('writes an offsets-only transaction for the uncommitted offset when asked or due', () => {
    const asked = new PendingBatch();
    asked.commitOffsetsWithIt();
    expect(planWrite(asked, progress({ uncommitted: consumedAt(7) }), 1_001)).toEqual({ kind: 'write', offsets: [consumedAt(7)], consumed: consumedAt(7) });
    expect(planWrite(new PendingBatch(), progress({ uncommitted: consumedAt(7) }), 1_000 + OFFSET_COMMIT_INTERVAL_MS)).toMatchObject({ kind: 'write', offsets: [consumedAt(7)] });
    // Nothing consumed, nothing uncommitted: nothing to commit either.
    expect(planWrite(asked, progress(), 1_001)).toMatchObject({ kind: 'skip' });
  });

  it('tracks offsets through writes: committed ones clear, others wait', () => {
    const withOffsets = { kind: 'write', offsets: [consumedAt(9)], consumed: consumedAt(9) } as const;
    expect(progressAfterWrite(progress({ uncommitted: consumedAt(3) }), withOffsets, 2_000)).toEqual({ uncommitted: undefined, committedAt: 2_000, wroteAt: 2_000 });
    const without = { kind: 'write', offsets: [], consumed: consumedAt(9) } as const;
    expect(progressAfterWrite(progress(), without, 2_000)).toEqual({ uncommitted: consumedAt(9), committedAt: 1_000, wroteAt: 2_000 });
  });

  it('finds offsets due on a partition only once it has been quiet for the interval', () => {
    const waiting = progress({ uncommitted: consumedAt(4) });
    expect(offsetsDueWhileQuiet(waiting, 1_000 + OFFSET_COMMIT_INTERVAL_MS)).toBe(true);
    expect(offsetsDueWhileQuiet(waiting, 1_000 + OFFSET_COMMIT_INTERVAL_MS - 1)).toBe(false);
    expect(offsetsDueWhileQuiet({ ...waiting, wroteAt: 1_050 }, 1_000 + OFFSET_COMMIT_INTERVAL_MS)).toBe(false);
    expect(offsetsDueWhileQuiet(progress(), 5_000)).toBe(false);
    expect(initialOffsetProgress(3_000)).toEqual({ uncommitted: undefined, committedAt: 3_000, wroteAt: 0 });
  });

  it('resumes after a failure at the first command decided into the failed batch, else into the next', () => {
    const failed = batchOf(decided());
    const later = new PendingBatch();
    later.consume(source, [received(30)]);
    expect(resumeOffset(failed, later)).toBe(10n);
    expect(resumeOffset(new PendingBatch(), later)).toBe(30n);
    expect(resumeOffset(new PendingBatch(), undefined)).toBeUndefined();
  });
});

describe('the records of a batch', () => {
  it('sends the chained events to the events topic, replies and follow-ups by key, and dead letters with their origin', () => {
    const batch = batchOf(decided(), { kind: 'deadLetter', reason: 'malformed command: bad' });
    const failedAt = new Date(Date.UTC(2026, 0, 1));
    const chained = [{ key: 'agr-1', partition: 2, value: Buffer.from('linked'), headers: { type: 'AgreementOpened' } }];
    const [events, replies, commands, dead] = batchMessages(batch, target, failedAt, chained);
    expect(events).toEqual({ topic: 'events', messages: chained });
    expect(replies).toEqual({ topic: 'replies', messages: [reply] });
    expect(commands).toEqual({ topic: 'commands', messages: [followUp] });
    expect(dead?.topic).toBe('dead');
    expect(dead?.messages[0]?.headers).toMatchObject({ [DeadLetterHeaders.offset]: '11', [DeadLetterHeaders.group]: 'lease', [DeadLetterHeaders.error]: 'malformed command: bad' });
  });

  it('knows the offset past the last event written', () => {
    const written = [
      { topic: 'replies', partition: 0, baseOffset: '40' },
      { topic: 'events', partition: 2, baseOffset: '100' },
    ];
    expect(eventsEnd(written, 'events', 3)).toBe(103n);
    expect(eventsEnd(written.slice(0, 1), 'events', 0)).toBeUndefined();
  });
});
