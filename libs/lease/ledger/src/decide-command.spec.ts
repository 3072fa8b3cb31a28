import { LedgerCommand } from '@license-ledger/lease-domain';
import { ReceivedMessage } from '@license-ledger/platform-kafka';
import { decideCommand, decideDueExpiries } from './decide-command';
import { PartitionLedger } from './partition-ledger';

const T0 = Date.UTC(2026, 0, 1);
const key = Buffer.alloc(32, 1).toString('base64');
const holder = { key, hostname: 'gw', processId: 1, sessionId: 's1' };

function cmd(type: LedgerCommand['type'], data: Record<string, unknown>, requestId: string): LedgerCommand {
  return { type, data: { agreementId: 'a1', ...data }, metadata: { requestId } } as unknown as LedgerCommand;
}

function received(value: unknown, messageKey: string | null = 'a1'): ReceivedMessage {
  const bytes = typeof value === 'string' ? Buffer.from(value) : Buffer.from(JSON.stringify(value));
  return { topic: 'commands', partition: 0, offset: '7', timestampMs: T0, key: messageKey, value: bytes, headers: {} };
}

const open = cmd('OpenAgreement', { name: 'A', licenses: 1, bounds: { minMs: 1_000, defaultMs: 10_000, maxMs: 60_000 } }, 'open');

describe('deciding one consumed command', () => {
  it('decides a well-formed command, answering its asker and applying its events to the ledger', () => {
    const ledger = new PartitionLedger(0);
    const decision = decideCommand(ledger, received({ command: open, replyTo: 'ingress-1' }), T0);
    expect(decision).toMatchObject({ kind: 'decided', unrecorded: false, commands: [] });
    if (decision.kind !== 'decided') throw new Error('decided expected');
    expect(decision.events.map((e) => e.type)).toEqual(['AgreementOpened']);
    expect(decision.replies.map((r) => [r.key, JSON.parse(r.value.toString())])).toEqual([
      ['ingress-1', { requestId: 'open', agreementId: 'a1', outcome: { kind: 'accepted' } }],
    ]);
    expect(ledger.agreement('a1').status).toBe('open');
  });

  it('dead-letters a malformed command, and one whose key is not its stream', () => {
    const ledger = new PartitionLedger(0);
    expect(decideCommand(ledger, received('not json'), T0)).toMatchObject({ kind: 'deadLetter', reason: expect.stringMatching(/^malformed command: /) });
    expect(decideCommand(ledger, received({ command: open, replyTo: null }, 'a2'), T0)).toMatchObject({
      kind: 'deadLetter',
      reason: expect.stringMatching(/^misrouted command: /),
    });
    expect(ledger.agreements.size).toBe(0);
  });

  it('decides nothing for a command consumed after its deadline', () => {
    const ledger = new PartitionLedger(0);
    expect(decideCommand(ledger, received({ command: open, replyTo: 'ingress-1', deadlineMs: T0 - 250 }), T0)).toEqual({ kind: 'expired', requestId: 'open', lateMs: 250 });
    expect(ledger.agreements.size).toBe(0);
  });

  it('passes a bind on to the key\'s stream, keyed by the key, with the answer', () => {
    const ledger = new PartitionLedger(0);
    decideCommand(ledger, received({ command: open, replyTo: null }), T0);
    const bind = decideCommand(ledger, received({ command: cmd('BindKey', { key }, 'bind'), replyTo: 'ingress-1' }), T0);
    expect(bind).toMatchObject({ kind: 'decided', replies: [] });
    if (bind.kind !== 'decided') throw new Error('decided expected');
    expect(bind.commands.map((c) => c.key)).toEqual([key]);
  });
});

describe('expiring due locks', () => {
  it('expires a lock past its lease, and reports nothing while none is due', () => {
    const ledger = new PartitionLedger(0);
    ledger.decideAndApply(open, T0);
    ledger.decideAndApply(cmd('BindReservedKey', { key }, 'bind'), T0);
    const granted = ledger.decideAndApply(cmd('AcquireLock', { configHash: '0'.repeat(64), holder }, 'lock'), T0);
    expect(granted.events.map((e) => e.type)).toEqual(['LockGranted']);
    expect(decideDueExpiries(ledger, T0 + 1_000)).toBeUndefined();
    expect(decideDueExpiries(ledger, T0 + 60_000)?.map((e) => e.type)).toEqual(['LockExpired']);
    expect(decideDueExpiries(ledger, T0 + 61_000)).toBeUndefined();
  });
});

