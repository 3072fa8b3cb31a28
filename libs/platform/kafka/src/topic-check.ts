/**
 * Compares topics as they exist on a cluster with their spec. Pure: the caller describes the
 * topics (describe-topics.ts) and decides what to do with the problems (services refuse to start
 * on any `refuse`, and log the `warn`s).
 */
import type { TopicRole, TopicSpec } from './topics';

/** What the cluster says about one topic. */
export interface ObservedTopic {
  readonly name: string;
  readonly partitions: readonly ObservedPartition[];
  /** Effective configs: the topic's own override or else the broker's default. */
  readonly configs: Readonly<Record<string, string | undefined>>;
}

export interface ObservedPartition {
  readonly partitionId: number;
  /** -1 while the partition has no leader. */
  readonly leader: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

export interface TopicProblem {
  readonly topic: string;
  /** The Kafka setting (or `partitions`, `replication.factor`, `existence`, `in-sync replicas`). */
  readonly setting: string;
  readonly expected: string;
  readonly actual: string;
  /** `refuse`: the ledger could lose or misroute data; nothing may run. `warn`: log and carry on. */
  readonly severity: 'refuse' | 'warn';
  /** One line naming the topic and the setting. */
  readonly message: string;
}

/** The configs the check reads (describeConfigs asks for exactly these). */
export const CHECKED_CONFIGS = ['min.insync.replicas', 'retention.ms', 'retention.bytes', 'cleanup.policy', 'unclean.leader.election.enable'] as const;

export function checkTopics(specs: readonly TopicSpec[], observed: readonly ObservedTopic[]): TopicProblem[] {
  return specs.flatMap((spec) => checkTopic(spec, observed.find((o) => o.name === spec.name)));
}

export function checkTopic(spec: TopicSpec, observed: ObservedTopic | undefined): TopicProblem[] {
  const role: TopicRole = spec.role ?? 'working';
  const ledger = role === 'ledger';
  const problems: TopicProblem[] = [];
  const report = (setting: string, expected: string, actual: string, refuse: boolean, why: string): void => {
    problems.push({
      topic: spec.name,
      setting,
      expected,
      actual,
      severity: refuse ? 'refuse' : 'warn',
      message: `topic ${spec.name}: ${setting} is ${actual}, expected ${expected}: ${why}`,
    });
  };

  if (!observed) {
    report('existence', 'the topic', 'missing', false, 'not created yet (npm run kafka -- start, or tools/setup.ts, creates it)');
    return problems;
  }

  const partitions = observed.partitions.length;
  if (partitions !== spec.partitions) {
    const routing = role === 'ledger' || role === 'ledger-routing' || role === 'ledger-state';
    report(
      'partitions',
      String(spec.partitions),
      String(partitions),
      routing,
      routing
        ? 'agreements are keyed to partitions, so the count is fixed when the ledger is created; set LEDGER_PARTITIONS to the count the ledger has'
        : 'left as it is (only the ledger needs an exact count)',
    );
  }

  const actualRf = partitions === 0 ? 0 : Math.min(...observed.partitions.map((p) => p.replicas.length));
  if (spec.replicationFactor !== undefined && actualRf < spec.replicationFactor) {
    report(
      'replication.factor',
      `at least ${spec.replicationFactor}`,
      String(actualRf),
      ledger,
      ledger ? `the ledger would be lost with ${actualRf} disk(s); reassign its partitions to ${spec.replicationFactor} brokers` : 'losing a broker loses records',
    );
  }

  const wantedIsr = spec.config['min.insync.replicas'];
  const actualIsr = Number(observed.configs['min.insync.replicas'] ?? '1');
  if (wantedIsr !== undefined && actualIsr < Number(wantedIsr)) {
    report('min.insync.replicas', `at least ${wantedIsr}`, String(actualIsr), ledger, 'a write acknowledged by fewer copies can be lost with one broker');
  }
  if (actualRf > 0 && actualIsr > actualRf) {
    report('min.insync.replicas', `at most replication.factor ${actualRf}`, String(actualIsr), ledger, 'no write can ever be acknowledged');
  }

  if (ledger) {
    // The ledger is kept for ever and never compacted: compaction keeps one event per agreement.
    for (const setting of ['retention.ms', 'retention.bytes'] as const) {
      const actual = observed.configs[setting];
      if (actual !== '-1') report(setting, '-1', actual ?? 'unknown', true, 'the broker would delete ledger events');
    }
    const cleanup = observed.configs['cleanup.policy'];
    if (cleanup !== 'delete') report('cleanup.policy', 'delete (with unlimited retention)', cleanup ?? 'unknown', true, 'compaction would delete all but the last event of each agreement');
    if (observed.configs['unclean.leader.election.enable'] === 'true') {
      report('unclean.leader.election.enable', 'false', 'true', true, 'an out-of-sync replica could become leader and drop acknowledged events');
    }
  } else {
    // Derived from the ledger, so rebuilt by its owners, but only if the broker keeps the latest
    // record of every key: deleting by age would drop long-lived key bindings and quiet snapshots.
    const cleanup = observed.configs['cleanup.policy'];
    if (role === 'ledger-state' && cleanup !== 'compact') {
      report('cleanup.policy', 'compact', cleanup ?? 'unknown', true, 'the broker would delete key bindings and snapshots by age instead of keeping the latest of each');
    }
    for (const [setting, expected] of Object.entries(spec.config)) {
      if (role === 'ledger-state' && setting === 'cleanup.policy') continue;
      if (setting === 'min.insync.replicas') continue;
      const actual = observed.configs[setting];
      if (actual !== undefined && actual !== expected) report(setting, expected, actual, false, 'differs from topics.ts (left as it is)');
    }
  }

  // A momentary state, not a setting: worth a line, never a refusal.
  const offline = observed.partitions.filter((p) => p.leader < 0).map((p) => p.partitionId);
  if (offline.length > 0) report('leader', 'a leader for every partition', `none for partition(s) ${offline.join(',')}`, false, 'writes to them wait');
  const under = observed.partitions.filter((p) => p.isr.length < p.replicas.length).map((p) => p.partitionId);
  if (under.length > 0) report('in-sync replicas', 'all replicas in sync', `under-replicated partition(s) ${under.join(',')}`, false, 'a broker is down or behind');
  return problems;
}

/** Raised at start when a topic could lose ledger data; names every such topic and setting. */
export class TopicCheckError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Refusing to run on these Kafka topics:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'TopicCheckError';
  }
}
