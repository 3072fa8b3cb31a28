import { serverProperties } from './server-properties';

const props = (clusterSize: number): Record<string, string> =>
  Object.fromEntries(
    serverProperties({ id: 2, port: 9093, controllerPort: 19093, voters: '1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3', logDir: '/data', clusterSize })
      .split('\n')
      .filter((line) => line.includes('=') && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

describe('local node server.properties', () => {
  it('replicates everything three times, two in sync, on a cluster of three', () => {
    const p = props(3);
    expect(p).toMatchObject({
      'node.id': '2',
      'process.roles': 'broker,controller',
      'controller.quorum.voters': '1@127.0.0.1:1,2@127.0.0.1:2,3@127.0.0.1:3',
      'default.replication.factor': '3',
      'min.insync.replicas': '2',
      'offsets.topic.replication.factor': '3',
      'transaction.state.log.replication.factor': '3',
      'transaction.state.log.min.isr': '2',
      'unclean.leader.election.enable': 'false',
    });
  });

  it('replicates once on a single node, which could never hold more copies', () => {
    const p = props(1);
    expect(p).toMatchObject({ 'default.replication.factor': '1', 'min.insync.replicas': '1', 'offsets.topic.replication.factor': '1', 'transaction.state.log.min.isr': '1' });
    expect(p['broker.session.timeout.ms']).toBeUndefined();
  });

  it("keeps the log cleaner's dedupe buffer (taken from the heap at start) to a small share of a cluster node's 256 MiB", () => {
    const bytes = Number(props(3)['log.cleaner.dedupe.buffer.size']);
    expect(bytes).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    expect(bytes).toBeLessThanOrEqual(64 * 1024 * 1024);
  });
});
