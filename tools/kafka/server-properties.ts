/**
 * server.properties of a local KRaft node. One node: everything replicated once. Several: the
 * settings of a production cluster (three copies, two in sync) so the local cluster behaves like
 * one when a node is lost; docker-compose.yml's `cluster` profile sets the same.
 */
export interface NodeProperties {
  readonly id: number;
  readonly port: number;
  readonly controllerPort: number;
  /** `1@127.0.0.1:port,2@…`: a static quorum, so a data dir stays valid if controller ports change. */
  readonly voters: string;
  readonly logDir: string;
  readonly clusterSize: number;
}

export function serverProperties(p: NodeProperties): string {
  const copies = Math.min(3, p.clusterSize);
  const inSync = Math.max(1, Math.min(2, copies - 1));
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': p.id,
    'controller.quorum.voters': p.voters,
    listeners: `PLAINTEXT://127.0.0.1:${p.port},CONTROLLER://127.0.0.1:${p.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${p.port}`,
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name': 'PLAINTEXT',
    'controller.listener.names': 'CONTROLLER',
    'log.dirs': p.logDir,
    // Topics come only from topics.ts: a typo in a topic name must fail, not create a topic.
    'auto.create.topics.enable': false,
    'num.partitions': 1,
    // Defaults for topics created without explicit settings (tests' scratch topics).
    'default.replication.factor': copies,
    'min.insync.replicas': inSync,
    // Never elect a replica that missed acknowledged writes (Kafka's default; stated because the ledger depends on it).
    'unclean.leader.election.enable': false,
    // The consumer offsets and transaction state hold the ledger's exactly-once bookkeeping: as safe as the ledger.
    'offsets.topic.replication.factor': copies,
    'transaction.state.log.replication.factor': copies,
    'transaction.state.log.min.isr': inSync,
    'share.coordinator.state.topic.replication.factor': copies,
    'share.coordinator.state.topic.min.isr': inSync,
    // Fewer internal partitions: faster first group join / first transaction on a dev machine.
    'offsets.topic.num.partitions': 4,
    'transaction.state.log.num.partitions': 4,
    'group.initial.rebalance.delay.ms': 0,
    // The log cleaner (compacted snapshot and key-directory topics) takes its dedupe buffer from the heap
    // at start: 128 MiB by default, half of a cluster node's 256 MiB, and a node died of it (OutOfMemoryError
    // at start in CI). 32 MiB still maps about a million keys per cleaning pass, far beyond a local ledger.
    'log.cleaner.dedupe.buffer.size': 32 * 1024 * 1024,
    // A lost node is fenced (its partitions led elsewhere, dropped from ISRs) after 6 s instead of 9.
    ...(p.clusterSize > 1 ? { 'broker.session.timeout.ms': 6_000, 'broker.heartbeat.interval.ms': 1_000 } : {}),
  };
  const lines = Object.entries(props).map(([k, v]) => `${k}=${String(v)}`);
  return `# Written by tools/kafka/local-kafka.ts on every start; edits are overwritten.\n${lines.join('\n')}\n`;
}
