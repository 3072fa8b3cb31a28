import { ConfigError } from '@license-ledger/platform-config';
import { loadTopicSettings, resolveTopicSettings } from './topic-settings';
import { DEFAULT_LEDGER_PARTITIONS, Topics, topicSpecs } from './topics';

describe('topic settings', () => {
  it('derives 3 copies and min.insync.replicas 2 on a cluster of three or more brokers', () => {
    for (const brokers of [3, 5]) {
      const resolved = resolveTopicSettings({}, brokers);
      expect(resolved.layout).toEqual({ replicationFactor: 3, minInsyncReplicas: 2, ledgerPartitions: DEFAULT_LEDGER_PARTITIONS });
      expect(resolved.problems).toEqual([]);
      expect(resolved.warnings).toEqual([]);
    }
  });

  it('derives 1 and 1 on a single broker, with a warning', () => {
    const resolved = resolveTopicSettings({}, 1);
    expect(resolved.layout).toEqual({ replicationFactor: 1, minInsyncReplicas: 1, ledgerPartitions: DEFAULT_LEDGER_PARTITIONS });
    expect(resolved.problems).toEqual([]);
    expect(resolved.warnings).toEqual([expect.stringContaining('losing a disk loses the ledger')]);
  });

  it('refuses too few copies or acknowledgements on a cluster that has room for them', () => {
    expect(resolveTopicSettings({ KAFKA_REPLICATION_FACTOR: 1 }, 3).problems).toEqual([
      expect.stringContaining('KAFKA_REPLICATION_FACTOR=1 on a cluster of 3 brokers'),
      expect.stringContaining('KAFKA_MIN_INSYNC_REPLICAS=1 (derived) on a cluster of 3 brokers'),
    ]);
    expect(resolveTopicSettings({ KAFKA_MIN_INSYNC_REPLICAS: 1 }, 3).problems).toEqual([expect.stringContaining('KAFKA_MIN_INSYNC_REPLICAS=1 on a cluster of 3 brokers')]);
    expect(resolveTopicSettings({ KAFKA_REPLICATION_FACTOR: 3, KAFKA_MIN_INSYNC_REPLICAS: 4 }, 3).problems).toEqual([expect.stringContaining('no write could ever be acknowledged')]);
  });

  it('keeps the configured factor while one broker of three is down (2 answer)', () => {
    const resolved = resolveTopicSettings({ KAFKA_REPLICATION_FACTOR: 3, KAFKA_MIN_INSYNC_REPLICAS: 2 }, 2);
    expect(resolved.layout.replicationFactor).toBe(3);
    expect(resolved.problems).toEqual([]);
  });

  it('takes LEDGER_PARTITIONS for the ledger and its commands only', () => {
    const specs = topicSpecs(resolveTopicSettings({ LEDGER_PARTITIONS: 24 }, 3).layout);
    const partitions = Object.fromEntries(specs.map((s) => [s.name, s.partitions]));
    expect(partitions[Topics.leaseEvents.name]).toBe(24);
    expect(partitions[Topics.leaseCommands.name]).toBe(24);
    expect(partitions[Topics.telemetry.name]).toBe(Topics.telemetry.partitions);
    expect(specs.every((s) => s.replicationFactor === 3 && s.config['min.insync.replicas'] === '2')).toBe(true);
  });

  it('names each bad variable', () => {
    expect.assertions(3);
    try {
      loadTopicSettings({ KAFKA_REPLICATION_FACTOR: 'three', KAFKA_MIN_INSYNC_REPLICAS: '0', LEDGER_PARTITIONS: '6' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([expect.stringContaining('KAFKA_REPLICATION_FACTOR="three"'), expect.stringContaining('KAFKA_MIN_INSYNC_REPLICAS="0"')]);
      expect(loadTopicSettings({ LEDGER_PARTITIONS: '12', KAFKA_REPLICATION_FACTOR: '' })).toEqual({ LEDGER_PARTITIONS: 12 });
    }
  });
});
