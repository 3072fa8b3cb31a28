import { LedgerCommand, LedgerEvent, LeaseOutcome, streamOf } from '@license-ledger/lease-domain';
import { decideEnvelope } from './decide-envelope';
import { KeyDirectory } from './key-directory';
import { PartitionLedger } from './partition-ledger';
import type { CommandEnvelope } from './records';
import type { MessageBus } from '@license-ledger/platform-kafka';

const T0 = Date.UTC(2026, 0, 1);
const K = Buffer.alloc(32, 9).toString('base64');
/** Where each stream's partition is: the two agreements and the key on three different ones. */
const PARTITION_OF: Record<string, number> = { acme: 0, globex: 1, [K]: 2 };

/** xorshift32, so every run explores the same orders. */
function randomSource(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

/**
 * Three partition owners as the processor drives them: each decides its own commands in order;
 * follow-ups join the end of their stream's partition, as written to the commands topic.
 */
class Owners {
  readonly ledgers = [0, 1, 2].map((p) => new PartitionLedger(p));
  readonly logs: LedgerEvent[][] = [[], [], []];
  readonly answers = new Map<string, LeaseOutcome[]>();
  private readonly queues: CommandEnvelope[][] = [[], [], []];

  send(command: LedgerCommand): this {
    this.enqueue({ command, replyTo: 'ops' });
    return this;
  }

  step(partition: number): void {
    const envelope = this.queues[partition]?.shift();
    const ledger = this.ledgers[partition];
    if (!envelope || !ledger) throw new Error(`nothing to decide on partition ${partition}`);
    const decided = decideEnvelope(ledger, envelope, T0);
    this.logs[partition]?.push(...decided.events);
    for (const next of decided.followUps) this.enqueue(next);
    for (const { reply } of decided.replies) this.answers.set(reply.requestId, [...(this.answers.get(reply.requestId) ?? []), reply.outcome]);
  }

  settle(random?: () => number): this {
    for (let ready = this.ready(); ready.length > 0; ready = this.ready()) {
      this.step(ready[random ? Math.floor(random() * ready.length) : 0] as number);
    }
    return this;
  }

  private ready(): number[] {
    return [0, 1, 2].filter((p) => (this.queues[p]?.length ?? 0) > 0);
  }

  private enqueue(envelope: CommandEnvelope): void {
    this.queues[PARTITION_OF[streamOf(envelope.command)] as number]?.push(envelope);
  }
}

const open = (agreementId: string): LedgerCommand => ({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: 1 }, metadata: { requestId: `open-${agreementId}` } });
const bind = (agreementId: string, requestId: string): LedgerCommand => ({ type: 'BindKey', data: { agreementId, key: K }, metadata: { requestId } });
const revoke = (agreementId: string, requestId: string): LedgerCommand => ({ type: 'RevokeKey', data: { agreementId, key: K }, metadata: { requestId } });
const opened = (): Owners => new Owners().send(open('acme')).send(open('globex')).settle();

describe('binding one key to two agreements owned by different partitions', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('racing binds (order seed %i): one is accepted, the other denied naming the holder; the key directory agrees', (seed) => {
    const random = randomSource(seed);
    const owners = opened().send(bind('acme', 'bind-acme')).send(bind('globex', 'bind-globex')).settle(random);
    const acme = owners.answers.get('bind-acme');
    const globex = owners.answers.get('bind-globex');
    expect([acme?.length, globex?.length]).toEqual([1, 1]);
    const [winner, loser] = acme?.[0]?.kind === 'accepted' ? ['acme', 'globex'] : ['globex', 'acme'];
    expect(owners.answers.get(`bind-${loser}`)).toEqual([
      { kind: 'denied', reason: 'invalid_command', message: `the key is bound to agreement "${winner}"; revoke it there before binding it to "${loser}"` },
    ]);
    expect(owners.ledgers.flatMap((l) => [...l.agreements.values()]).filter((a) => a.keys.has(K)).map((a) => a.agreementId)).toEqual([winner]);

    // The ingress's directory, whichever partition it reads first.
    for (const order of [[0, 1, 2], [1, 0, 2], [2, 1, 0]]) {
      const directory = new KeyDirectory({ bus: {} as MessageBus, eventsTopic: 'events', groupId: 'g' });
      for (const partition of order) for (const event of owners.logs[partition] ?? []) directory.apply(event);
      expect(directory.agreementOf(K)).toBe(winner);
    }
  });

  it('revoke, then bind elsewhere: the revoke is answered once the key is free, so the bind is accepted', () => {
    const owners = opened().send(bind('acme', 'b1')).settle();
    owners.send(revoke('acme', 'v1'));
    owners.step(0); // acme revokes; the answer waits for the key's release
    expect(owners.answers.get('v1')).toBeUndefined();
    owners.settle();
    expect(owners.answers.get('v1')).toEqual([{ kind: 'accepted' }]);
    owners.send(bind('globex', 'b2')).settle();
    expect(owners.answers.get('b2')).toEqual([{ kind: 'accepted' }]);
    expect(owners.ledgers[2]?.key(K).heldBy).toBe('globex');
  });

  it('a retried bind (same request id) gets the answer of the step that decided it, and nothing is decided again', () => {
    const owners = opened().send(bind('acme', 'b1')).settle();
    owners.send(bind('globex', 'b2')).settle();
    const written = owners.logs.map((log) => log.length);
    owners.send(bind('globex', 'b2')).settle();
    expect(owners.answers.get('b2')?.map((o) => o.kind)).toEqual(['denied', 'denied']);
    expect(owners.logs.map((log) => log.length)).toEqual(written);
    owners.send(bind('acme', 'b1')).settle();
    expect(owners.answers.get('b1')).toEqual([{ kind: 'accepted' }, { kind: 'accepted' }]);
  });
});
