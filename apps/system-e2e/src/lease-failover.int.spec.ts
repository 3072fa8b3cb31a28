import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkInvariants, LeaseCommand, LeaseEvent, LeaseOutcome } from '@license-ledger/lease-domain';
import { ChainVerifier, decodeLedgerRecord, isLedgerEvent, LedgerClient } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createTestTopics, eventually, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { BuiltService, startBuiltService } from './support/built-service';

/**
 * Two lease services share the ledger's partitions; one is killed with SIGKILL under load, once the
 * log shows that it owns some of them. Every grant that was answered must be in the log exactly
 * once, the log must pass the invariant check (never more live locks than licenses, each request
 * decided once), and the survivor must claim each of the dead instance's partitions within seconds
 * and go on deciding requests in them.
 */
const { brokers } = integrationEnv();
const PARTITIONS = 6;
const AGREEMENTS = 12;
const LICENSES = 4;

async function readEvents(topic: string): Promise<LeaseEvent[]> {
  return (await readTopic(brokers, topic))
    .map((message) => decodeLedgerRecord(message.value))
    .filter((record): record is LeaseEvent => isLedgerEvent(record));
}

interface Claim {
  readonly owner: string;
  readonly offset: bigint;
}

/**
 * The events topic as ownership: each partition's latest PartitionClaimed (a new owner writes one
 * before it decides anything) and the offset of its latest event.
 */
/** What the load's AcquireLock requests are decided into. */
const LOCK_DECISIONS: ReadonlySet<string> = new Set(['LockGranted', 'LockRenewed', 'LockExpired', 'RequestDenied']);

async function readOwnership(topic: string): Promise<{ claims: Map<number, Claim>; lastEvent: Map<number, bigint> }> {
  const claims = new Map<number, Claim>();
  const lastEvent = new Map<number, bigint>();
  for (const message of await readTopic(brokers, topic)) {
    const record = decodeLedgerRecord(message.value);
    if (record.type === 'PartitionClaimed') claims.set(message.partition, { owner: record.data.owner, offset: BigInt(message.offset) });
    // Only the load's lock decisions make a partition busy: a partition holding nothing but a key's
    // events (or other bookkeeping records) gets no new events after the kill, however long we wait.
    else if (LOCK_DECISIONS.has(record.type)) lastEvent.set(message.partition, BigInt(message.offset));
  }
  return { claims, lastEvent };
}

describe('lease failover', () => {
  const services: BuiltService[] = [];
  afterAll(() => {
    for (const service of services) if (service.child.exitCode === null) service.child.kill('SIGKILL');
  });

  it('loses and doubles nothing when an instance is killed under load, and the survivor takes over', async () => {
    const id = randomUUID().slice(0, 8);
    const topics = await createTestTopics(brokers, 'failover', ['commands', 'events', 'replies'], PARTITIONS);
    const ledgerKey = writeKeyPairFiles({ dir: mkdtempSync(path.join(tmpdir(), 'failover-keys-')), name: 'ledger-sign', kind: 'sign' });
    const env = {
      LEASE_COMMANDS_TOPIC: topics.commands,
      LEASE_EVENTS_TOPIC: topics.events,
      LEASE_REPLIES_TOPIC: topics.replies,
      LEASE_GROUP_ID: `failover-${id}`,
      // Both instances sign the events chain's checkpoints with one ledger key (docs/ledger-integrity.md).
      LEDGER_SIGN_KEY_FILE: ledgerKey.secretKeyPath,
    };
    const instanceIds = [`lease-a-${id}`, `lease-b-${id}`];
    for (const instanceId of instanceIds) services.push(await startBuiltService('lease', env, instanceId));
    let killed: BuiltService | undefined;
    let killedAt = 0;
    /** The output of an instance that died without being killed by this test, if any. */
    const diedByItself = (): string | undefined =>
      services.find((s) => s !== killed && (s.child.exitCode !== null || s.child.signalCode !== null))?.output.join('');

    const bus = new KafkaJsMessageBus({ clientId: 'failover-ingress', brokers, logger: silentLogger });
    const client = new LedgerClient({ bus, topics, instanceId: `ingress-${id}`, groupPrefix: `failover-${id}` });
    let stopLoad = false;
    let load: Promise<unknown> = Promise.resolve();
    await client.start();
    try {
      // Like the ingress: a request that times out is retried with the same request id.
      const sendUntilAnswered = (command: LeaseCommand): Promise<LeaseOutcome> => client.sendUntilAnswered(command, 2_000, 30);
      // One key per agreement: a key is bound to one agreement at a time.
      const agreements = Array.from({ length: AGREEMENTS }, (_, i) => `failover-${id}-${i}`);
      const keyOf = (i: number): string => Buffer.alloc(32, i + 1).toString('base64');
      for (const [i, agreementId] of agreements.entries()) {
        await sendUntilAnswered({ type: 'OpenAgreement', data: { agreementId, name: agreementId, licenses: LICENSES }, metadata: { requestId: randomUUID() } });
        expect(await sendUntilAnswered({ type: 'BindKey', data: { agreementId, key: keyOf(i) }, metadata: { requestId: randomUUID() } })).toEqual({ kind: 'accepted' });
      }

      const answered = new Map<string, LeaseOutcome>();
      let slowestAfterKillMs = 0;
      const worker = async (w: number): Promise<void> => {
        for (let n = 0; !stopLoad; n++) {
          const index = (w * 7 + n) % AGREEMENTS;
          const agreementId = agreements[index] ?? '';
          const key = keyOf(index);
          // More config hashes than licenses, so some requests must be denied.
          const configHash = Math.floor(Math.random() * (LICENSES + 2)).toString(16).padStart(64, '0');
          const command: LeaseCommand = {
            type: 'AcquireLock',
            data: { agreementId, configHash, holder: { key, hostname: `gw-${w}`, processId: 1000 + w, sessionId: `s-${w}-${n % 3}` }, requestedPeriodMs: 10 * 60_000 },
            metadata: { requestId: randomUUID() },
          };
          const sentAt = Date.now();
          answered.set(command.metadata.requestId, await sendUntilAnswered(command));
          if (killedAt > 0 && sentAt >= killedAt - 2_000) slowestAfterKillMs = Math.max(slowestAfterKillMs, Date.now() - sentAt);
        }
      };
      load = Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)));

      // Kill only once the log shows both instances owning partitions (the same claims on two reads
      // in a row: no rebalance under way) and the load is running; the victim is the instance that
      // owns more partitions with agreements in them. Killing one that owns nothing, or only idle
      // partitions, would test no failover at all.
      let previousClaims = '';
      const before = await eventually(
        'both lease instances owning partitions, under load',
        60_000,
        async (fail) => {
          const died = diedByItself();
          if (died !== undefined) fail(`a lease instance exited:\n${died}`);
          const ownership = await readOwnership(topics.events);
          const claims = JSON.stringify([...ownership.claims].map(([p, c]) => [p, c.owner, String(c.offset)]).sort());
          const stable = claims === previousClaims;
          previousClaims = claims;
          const busy = (owner: string): number[] => [...ownership.claims].filter(([p, c]) => c.owner === owner && ownership.lastEvent.has(p)).map(([p]) => p);
          const owners = [...ownership.claims.values()].map((c) => c.owner);
          const [victimId, survivorId] = [...instanceIds].sort((x, y) => busy(y).length - busy(x).length);
          if (!stable || ownership.claims.size !== PARTITIONS || answered.size < 50 || !victimId || !survivorId) return undefined;
          return owners.includes(survivorId) && busy(victimId).length > 0 ? { ...ownership, victimId, survivorId, busy: busy(victimId) } : undefined;
        },
        500,
      );
      const { victimId, survivorId } = before;
      const victim = services[instanceIds.indexOf(victimId)];
      const survivor = services[instanceIds.indexOf(survivorId)];
      if (!victim || !survivor) throw new Error(`no service for ${victimId} or ${survivorId}`);
      const victimPartitions = [...before.claims].filter(([, claim]) => claim.owner === victimId).map(([partition]) => partition);
      expect(before.busy.length).toBeGreaterThan(0);
      killed = victim;
      killedAt = Date.now();
      victim.child.kill('SIGKILL');

      // The survivor claims each of them, and decides requests again in those with agreements.
      const takenOver = await eventually(
        `${survivorId} claiming partitions ${victimPartitions.join(', ')} and deciding in ${before.busy.join(', ')}`,
        60_000,
        async (fail) => {
          const died = diedByItself();
          if (died !== undefined) fail(`the survivor exited:\n${died}`);
          const { claims, lastEvent } = await readOwnership(topics.events);
          const claimedAfterKill = (p: number): Claim | undefined => {
            const claim = claims.get(p);
            const previous = before.claims.get(p);
            return claim?.owner === survivorId && previous !== undefined && claim.offset > previous.offset ? claim : undefined;
          };
          const claimed = victimPartitions.every((p) => claimedAfterKill(p) !== undefined);
          const deciding = before.busy.every((p) => {
            const claim = claimedAfterKill(p);
            return claim !== undefined && (lastEvent.get(p) ?? -1n) > claim.offset;
          });
          return claimed && deciding ? Date.now() - killedAt : undefined;
        },
        250,
      );
      stopLoad = true;
      await load;

      const granted = [...answered].filter(([, outcome]) => outcome.kind === 'granted');
      const denied = [...answered.values()].filter((outcome) => outcome.kind === 'denied');
      expect(granted.length).toBeGreaterThan(20);
      expect(denied.length).toBeGreaterThan(0);
      const events = await readEvents(topics.events);
      const grantEvents = events.filter((e) => e.type === 'LockGranted' || e.type === 'LockRenewed');
      for (const [requestId] of granted) {
        expect({ requestId, inLog: grantEvents.filter((e) => e.metadata.requestId === requestId).length }).toEqual({ requestId, inLog: 1 });
      }
      expect(checkInvariants(events)).toEqual([]);
      // The kill left an open transaction, aborted when the survivor fenced it: no record of it, and
      // the survivor linked its events after the victim's last ones. Every partition's chain holds.
      const chains = new ChainVerifier({ trustedKeys: [ledgerKey.publicKey] });
      for (let partition = 0; partition < PARTITIONS; partition++) chains.begin(partition, 0n);
      for (const message of await readTopic(brokers, topics.events)) chains.observe(message.partition, BigInt(message.offset), message.value);
      expect(chains.problems).toEqual([]);
      expect(chains.summaries().filter((summary) => summary.chainStart !== undefined).length).toBeGreaterThan(0);
      // The survivor answered for the victim's partitions within seconds of the kill.
      console.log(
        `failover: ${answered.size} requests answered, ${granted.length} granted, ${denied.length} denied; ${victimId} owned partitions ${victimPartitions.join(', ')} (busy: ${before.busy.join(', ')}); ` +
          `taken over and deciding within ${takenOver} ms; slowest request across the kill ${slowestAfterKillMs} ms`,
      );
      expect(slowestAfterKillMs).toBeLessThan(20_000);
      expect(survivor.child.exitCode).toBeNull();
    } finally {
      stopLoad = true;
      await load.catch(() => undefined);
      await client.stop();
      await bus.close();
    }
  }, 180_000);
});
