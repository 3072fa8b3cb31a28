import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { LeaseCommand, LedgerEvent } from '@license-ledger/lease-domain';
import { chainHash, decodeLedgerRecord, encodeCheckpointRecord, encodeEventRecord, encodeJson, genesisHash, LeaseProcessor, LedgerClient, LedgerTopics } from '@license-ledger/lease-ledger';
import { KafkaJsMessageBus, ReceivedMessage } from '@license-ledger/platform-kafka';
import { createTestTopics, integrationEnv, readTopic, silentLogger } from '@license-ledger/platform-testing';
import { readSigningKeyFile, writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { runCli } from './cli';

const { brokers } = integrationEnv();
const PARTITIONS = 3;

interface CliRun {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** The tampering a producer outside the lease service can do to a copy of one partition. */
type Edit = (records: ReceivedMessage[]) => Array<Pick<ReceivedMessage, 'key' | 'value' | 'headers'>>;

describe('ledger verify: the events chain on the real broker', () => {
  const kafka = new Kafka({ clientId: 'verify-chain-test', brokers: [...brokers], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  const bus = new KafkaJsMessageBus({ clientId: 'verify-chain-test', brokers, logger: silentLogger });
  const keyDir = mkdtempSync(path.join(tmpdir(), 'ledger-key-'));
  const keyPair = writeKeyPairFiles({ dir: keyDir, name: 'ledger-sign', kind: 'sign' });
  let topics: LedgerTopics;
  let log: ReceivedMessage[];
  /** A partition holding at least four events and a checkpoint. */
  let busiest: number;

  const verify = async (eventsTopic: string): Promise<CliRun> => {
    const out: string[] = [];
    const err: string[] = [];
    const env = { KAFKA_BROKERS: brokers.join(','), LEASE_EVENTS_TOPIC: eventsTopic, LEDGER_PUBLIC_KEY_FILE: keyPair.publicKeyPath };
    const code = await runCli(['verify', '--skip-projection'], { env, io: { out: (l) => out.push(l), err: (l) => err.push(l), errRaw: () => undefined, errIsTTY: false } });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };

  /** Writes the log into a fresh topic, partition by partition, with `edit` applied to partition `busiest`; returns its name. */
  const copyWith = async (edit: Edit): Promise<string> => {
    const { events } = await createTestTopics(brokers, 'copy', ['events'], PARTITIONS);
    for (let partition = 0; partition < PARTITIONS; partition++) {
      const records = log.filter((m) => m.partition === partition);
      const written = partition === busiest ? edit(records) : records;
      if (written.length === 0) continue;
      await producer.send({ topic: events, acks: -1, messages: written.map((m) => ({ partition, key: m.key, value: m.value, headers: { ...m.headers } })) });
    }
    return events;
  };

  beforeAll(async () => {
    await producer.connect();
    topics = await createTestTopics(brokers, 'chain', ['commands', 'events', 'replies'], PARTITIONS);
    const groupId = `test-chain-${randomUUID().slice(0, 8)}`;
    const processor = new LeaseProcessor({
      bus,
      topics,
      groupId,
      instanceId: `lease-${randomUUID().slice(0, 6)}`,
      logger: silentLogger,
      ledgerKey: readSigningKeyFile(keyPair.secretKeyPath),
      checkpointPolicy: { everyRecords: 3, everyMs: 3_600_000 },
    });
    await processor.start();
    const client = new LedgerClient({ bus, topics, instanceId: `ops-${randomUUID().slice(0, 6)}`, groupPrefix: groupId });
    await client.start();
    const send = (command: LeaseCommand) => client.send(command, 30_000);
    for (let n = 0; n < 8; n++) {
      const agreementId = `acme-${n}`;
      await send({ type: 'OpenAgreement', data: { agreementId, name: `Acme ${n}`, licenses: 2 }, metadata: { requestId: randomUUID() } });
      await send({ type: 'ChangeAgreement', data: { agreementId, licenses: 3 }, metadata: { requestId: randomUUID() } });
    }
    await client.stop();
    await processor.stop();
    log = await readTopic(brokers, topics.events);
    const counts = [0, 1, 2].map((p) => log.filter((m) => m.partition === p && decodeLedgerRecord(m.value).type !== 'PartitionClaimed').length);
    busiest = counts.indexOf(Math.max(...counts));
  }, 120_000);

  afterAll(async () => {
    await producer.disconnect();
    await bus.close();
  });

  it('verifies the untouched log and an untouched copy of it, and counts the signed checkpoints', async () => {
    const checkpoints = log.filter((m) => decodeLedgerRecord(m.value).type === 'LedgerCheckpoint');
    expect(checkpoints.length).toBeGreaterThan(0);
    for (const eventsTopic of [topics.events, await copyWith((records) => records)]) {
      const run = await verify(eventsTopic);
      expect(run).toMatchObject({ code: 0 });
      expect(run.out).toMatch(/^verify OK: 16 event\(s\), 8 agreement\(s\), chains intact, invariants hold/);
      expect(run.err).toContain(`${checkpoints.length} checkpoint(s) signed by key ${keyPair.keyId} (the ledger key given)`);
    }
  }, 60_000);

  // In a copy written without transactions, offsets run 0, 1, 2, ...: the n-th record is at offset n.
  it.each<[string, Edit, RegExp]>([
    ['an altered event', (r) => r.map((m, n) => (n === 2 ? { ...m, value: flipLastByte(m.value) } : m)), /offset 3: chain broken: this record does not link to the record at offset 2/],
    ['a removed event', (r) => r.filter((_, n) => n !== 2), /offset 2: chain broken: this record does not link to the record at offset 1/],
    ['two events swapped', (r) => [...r.slice(0, 2), r[3], r[2], ...r.slice(4)] as ReceivedMessage[], /offset 2: chain broken/],
    ['an inserted event, linked by someone who read the log', (r) => [...r.slice(0, 3), forgedAfter(r.slice(0, 3)), ...r.slice(3)], /offset 4: chain broken: this record links to the record at offset 2, not to the record at offset 3/],
  ])('names the partition and offset of %s', async (_, edit, where) => {
    const run = await verify(await copyWith(edit));
    expect(run.code).toBe(1);
    expect(run.err).toMatch(new RegExp(`verify FAILED: .*; chain broken in partition ${busiest} at offset \\d+`));
    expect(run.err).toMatch(new RegExp(`partition ${busiest} ${where.source}`));
  }, 60_000);

  it('names an unlinked event and a forged checkpoint appended to the live topic', async () => {
    const partitionLog = log.filter((m) => m.partition === busiest);
    const head = partitionLog.reduce((h, m) => chainHash(h, m.value), genesisHash(busiest));
    const forgedCheckpoint = Buffer.from(encodeCheckpointRecord(busiest, head, Date.now(), readSigningKeyFile(keyPair.secretKeyPath)));
    forgedCheckpoint.writeUInt8((forgedCheckpoint.at(-1) ?? 0) ^ 1, forgedCheckpoint.length - 1);
    const plainEvent: LedgerEvent = { type: 'AgreementClosed', data: { agreementId: 'acme-0' }, metadata: { requestId: 'outsider', at: Date.now() } };
    const sent = await producer.send({
      topic: topics.events,
      acks: -1,
      messages: [
        { partition: busiest, key: null, value: forgedCheckpoint },
        { partition: busiest, key: 'acme-0', value: encodeJson(plainEvent) },
      ],
    });
    const first = BigInt(sent[0]?.baseOffset ?? '-1');
    const run = await verify(topics.events);
    expect(run.code).toBe(1);
    expect(run.err).toContain(`partition ${busiest} offset ${first}: checkpoint signature does not verify (key ${keyPair.keyId}): forged or altered`);
    expect(run.err).toContain(`partition ${busiest} offset ${first + 1n}: record without a chain link after the chain started`);
  }, 60_000);
});

function flipLastByte(value: Buffer): Buffer {
  const copy = Buffer.from(value);
  copy.writeUInt8((copy.at(-1) ?? 0) ^ 1, copy.length - 1);
  return copy;
}

/** An event chained after `before` exactly as the owner would have: only a signature can tell it apart. */
function forgedAfter(before: readonly ReceivedMessage[]): Pick<ReceivedMessage, 'key' | 'value' | 'headers'> {
  const partition = before[0]?.partition ?? 0;
  const head = before.reduce((h, m) => chainHash(h, m.value), genesisHash(partition));
  const event: LedgerEvent = { type: 'AgreementClosed', data: { agreementId: 'acme-0' }, metadata: { requestId: 'forged', at: Date.now() } };
  return { key: 'acme-0', value: encodeEventRecord(event, head), headers: {} };
}
