import { checkTopic, checkTopics, ObservedTopic } from './topic-check';
import { Topics, topicSpecs } from './topics';

const layout = { replicationFactor: 3, minInsyncReplicas: 2, ledgerPartitions: 6 };
const specs = topicSpecs(layout);
const spec = (name: string) => specs.find((s) => s.name === name) as (typeof specs)[number];
const ledger = spec(Topics.leaseEvents.name);
const commands = spec(Topics.leaseCommands.name);
const telemetry = spec(Topics.telemetry.name);

/** A topic as a healthy three-broker cluster describes it, with `overrides`. */
function observed(name: string, overrides: { partitions?: number; replicas?: number; configs?: Record<string, string> } = {}): ObservedTopic {
  const replicas = Array.from({ length: overrides.replicas ?? 3 }, (_, i) => i + 1);
  const own = specs.find((s) => s.name === name)?.config ?? {};
  return {
    name,
    partitions: Array.from({ length: overrides.partitions ?? 6 }, (_, partitionId) => ({ partitionId, leader: 1, replicas, isr: replicas })),
    configs: { 'cleanup.policy': 'delete', 'unclean.leader.election.enable': 'false', 'retention.bytes': '-1', ...own, ...overrides.configs },
  };
}

const settings = (problems: ReturnType<typeof checkTopic>) => problems.map((p) => `${p.severity} ${p.topic} ${p.setting}`);

describe('checkTopic', () => {
  it('finds nothing wrong with topics made to their spec', () => {
    const all = specs.map((s) => observed(s.name, { partitions: s.partitions }));
    expect(checkTopics(specs, all)).toEqual([]);
  });

  it('refuses a ledger with one copy, naming the topic and the setting', () => {
    const [problem, ...rest] = checkTopic(ledger, observed(ledger.name, { replicas: 1, configs: { 'min.insync.replicas': '1' } }));
    expect(problem).toMatchObject({ topic: ledger.name, setting: 'replication.factor', actual: '1', severity: 'refuse' });
    expect(problem?.message).toContain(`topic ${ledger.name}: replication.factor is 1`);
    expect(settings(rest)).toEqual([`refuse ${ledger.name} min.insync.replicas`]);
  });

  it('refuses min.insync.replicas below 2 with three copies, and above the copies there are', () => {
    expect(settings(checkTopic(ledger, observed(ledger.name, { configs: { 'min.insync.replicas': '1' } })))).toEqual([`refuse ${ledger.name} min.insync.replicas`]);
    const tooMany = checkTopic(ledger, observed(ledger.name, { configs: { 'min.insync.replicas': '4' } }));
    expect(tooMany.map((p) => p.message)).toEqual([expect.stringContaining('no write can ever be acknowledged')]);
  });

  it('refuses retention or cleanup that would delete ledger events, and unclean leader election', () => {
    const problems = checkTopic(ledger, observed(ledger.name, { configs: { 'retention.ms': '604800000', 'retention.bytes': '1073741824', 'cleanup.policy': 'compact', 'unclean.leader.election.enable': 'true' } }));
    expect(settings(problems)).toEqual([
      `refuse ${ledger.name} retention.ms`,
      `refuse ${ledger.name} retention.bytes`,
      `refuse ${ledger.name} cleanup.policy`,
      `refuse ${ledger.name} unclean.leader.election.enable`,
    ]);
    expect(problems[0]?.message).toBe(`topic ${ledger.name}: retention.ms is 604800000, expected -1: the broker would delete ledger events`);
  });

  it('refuses a ledger or commands partition count that differs from the configured one', () => {
    expect(settings(checkTopic(ledger, observed(ledger.name, { partitions: 12 })))).toEqual([`refuse ${ledger.name} partitions`]);
    const [problem] = checkTopic(commands, observed(commands.name, { partitions: 3 }));
    expect(problem).toMatchObject({ setting: 'partitions', expected: '6', actual: '3', severity: 'refuse' });
    expect(problem?.message).toContain('LEDGER_PARTITIONS');
  });

  it('refuses a snapshot or key directory topic that is not compacted or not partitioned like the ledger', () => {
    const snapshots = spec(Topics.leaseSnapshots.name);
    const keys = spec(Topics.leaseKeyDirectory.name);
    expect(snapshots.config['cleanup.policy']).toBe('compact');
    expect(settings(checkTopic(keys, observed(keys.name, { configs: { 'cleanup.policy': 'delete' } })))).toEqual([`refuse ${keys.name} cleanup.policy`]);
    expect(settings(checkTopic(snapshots, observed(snapshots.name, { partitions: 3 })))).toEqual([`refuse ${snapshots.name} partitions`]);
    // Other settings of these topics only warn.
    expect(settings(checkTopic(keys, observed(keys.name, { replicas: 1, configs: { 'min.insync.replicas': '1' } })))).toEqual([
      `warn ${keys.name} replication.factor`,
      `warn ${keys.name} min.insync.replicas`,
    ]);
  });

  it('only warns about working topics', () => {
    const problems = checkTopic(telemetry, observed(telemetry.name, { partitions: 3, replicas: 1, configs: { 'min.insync.replicas': '1', 'retention.ms': '1000' } }));
    expect(problems.length).toBe(4);
    expect(problems.every((p) => p.severity === 'warn')).toBe(true);
  });

  it('warns (never refuses) about a missing topic, a partition without leader and under-replication', () => {
    expect(settings(checkTopic(ledger, undefined))).toEqual([`warn ${ledger.name} existence`]);
    const degraded = observed(ledger.name);
    const partitions = degraded.partitions.map((p, i) => (i === 0 ? { ...p, leader: -1, isr: [2] } : i === 1 ? { ...p, isr: [1, 2] } : p));
    expect(settings(checkTopic(ledger, { ...degraded, partitions }))).toEqual([`warn ${ledger.name} leader`, `warn ${ledger.name} in-sync replicas`]);
  });

  it('accepts a single-broker layout on a single broker', () => {
    const single = topicSpecs({ replicationFactor: 1, minInsyncReplicas: 1, ledgerPartitions: 6 });
    const one = single.map((s) => observed(s.name, { partitions: s.partitions, replicas: 1, configs: { 'min.insync.replicas': '1' } }));
    expect(checkTopics(single, one)).toEqual([]);
  });
});
