import { randomUUID } from 'node:crypto';
import { checkTopicsAtStart, describeTopics, quietAdmin } from './describe-topics';
import { ensureTopics } from './ensure-topics';
import { checkTopics, TopicCheckError } from './topic-check';
import { Topics, TopicSpec } from './topics';

const brokersVar = process.env['KAFKA_BROKERS'];
if (!brokersVar) throw new Error('KAFKA_BROKERS is not set: run the tests with `npm test`, which starts a broker');
const brokers = brokersVar.split(',');

/** A ledger as topics.ts would make it on this broker, under a name of this test's own. */
function ledgerSpec(name: string): TopicSpec {
  return { ...Topics.leaseEvents, name, partitions: 2, replicationFactor: 1, config: { ...Topics.leaseEvents.config, 'min.insync.replicas': '1' } };
}

describe('the topic check against the real broker', () => {
  const admin = quietAdmin(brokers, 'topic-check-spec');
  const created: string[] = [];
  beforeAll(() => admin.connect());
  afterAll(async () => {
    await admin.deleteTopics({ topics: created }).catch(() => undefined);
    await admin.disconnect();
  });

  it('refuses a ledger topic created wrongly, naming the topic and each setting', async () => {
    const name = `topic-check.${randomUUID().slice(0, 8)}.events`;
    created.push(name);
    // Created the way a hand-made topic often is: the broker's default retention, another partition count.
    await ensureTopics(brokers, [{ name, partitions: 3, config: { 'cleanup.policy': 'compact' } }]);
    const problems = checkTopics([ledgerSpec(name)], await describeTopics(admin, [name]));
    expect(problems.filter((p) => p.severity === 'refuse').map((p) => p.message)).toEqual([
      `topic ${name}: partitions is 3, expected 2: agreements are keyed to partitions, so the count is fixed when the ledger is created; set LEDGER_PARTITIONS to the count the ledger has`,
      expect.stringMatching(new RegExp(`^topic ${name.replace(/\./g, '\\.')}: retention\\.ms is \\d+, expected -1`)),
      `topic ${name}: cleanup.policy is compact, expected delete (with unlimited retention): compaction would delete all but the last event of each agreement`,
    ]);
  });

  it('accepts a ledger topic created from its spec', async () => {
    const name = `topic-check.${randomUUID().slice(0, 8)}.events`;
    created.push(name);
    const result = await ensureTopics(brokers, [ledgerSpec(name)]);
    expect(result.created).toEqual([name]);
    expect(checkTopics([ledgerSpec(name)], await describeTopics(admin, [name]))).toEqual([]);
    // Made again: left alone and found right.
    expect((await ensureTopics(brokers, [ledgerSpec(name)])).problems).toEqual([]);
  });

  it('at start, refuses the project ledger when LEDGER_PARTITIONS differs from its partition count', async () => {
    const wanted = Topics.leaseEvents.partitions + 1;
    const check = checkTopicsAtStart({ brokers, clientId: 'topic-check-spec', env: { LEDGER_PARTITIONS: String(wanted) }, timeoutMs: 5_000 });
    await expect(check).rejects.toThrow(TopicCheckError);
    await expect(check).rejects.toThrow(`topic ${Topics.leaseEvents.name}: partitions is ${Topics.leaseEvents.partitions}, expected ${wanted}`);
    await expect(check).rejects.toThrow(`topic ${Topics.leaseCommands.name}: partitions is ${Topics.leaseCommands.partitions}, expected ${wanted}`);
  });

  it('at start, passes the project topics as `npm test` made them, warning that one broker keeps one copy', async () => {
    const warnings: string[] = [];
    const result = await checkTopicsAtStart({ brokers, clientId: 'topic-check-spec', env: {}, onWarning: (message) => warnings.push(message) });
    expect(result.layout).toEqual({ replicationFactor: 1, minInsyncReplicas: 1, ledgerPartitions: Topics.leaseEvents.partitions });
    expect(warnings).toEqual([expect.stringContaining('1 broker(s): topics keep 1 copy')]);
  });
});
