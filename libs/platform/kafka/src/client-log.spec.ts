import { ClientLogFilter } from './client-log';

describe('ClientLogFilter', () => {
  it('turns a storm of retried connection errors into one warning per window, counting the rest', () => {
    const filter = new ClientLogFilter(10_000);
    const lines = Array.from({ length: 200 }, (_, i) => filter.filter('error', `Connection error: connect ECONNREFUSED 127.0.0.1:${40000 + (i % 3)}`, 1_000 + i * 10));
    expect(lines.filter((l) => l !== undefined)).toEqual([{ level: 'warn', text: 'Connection error: connect ECONNREFUSED 127.0.0.1:40000', suppressed: 0 }]);
    expect(filter.filter('error', 'Connection error: connect ECONNREFUSED 127.0.0.1:40001', 11_001)).toEqual({
      level: 'warn',
      text: 'Connection error: connect ECONNREFUSED 127.0.0.1:40001',
      suppressed: 199,
    });
  });

  it('keeps errors it does not know as errors, every time', () => {
    const filter = new ClientLogFilter();
    const message = 'Crash: KafkaJSProtocolError: Not authorized to access topics: [Topic authorization failed]';
    expect(filter.filter('error', message, 0)).toEqual({ level: 'error', text: message, suppressed: 0 });
    expect(filter.filter('error', message, 1)).toEqual({ level: 'error', text: message, suppressed: 0 });
  });

  it('demotes the idempotent-producer retries notice to debug and passes info through', () => {
    const filter = new ClientLogFilter();
    expect(filter.filter('warn', 'Limiting retries for the idempotent producer may invalidate EoS guarantees', 0)?.level).toBe('debug');
    expect(filter.filter('info', 'Consumer has joined the group', 0)).toEqual({ level: 'info', text: 'Consumer has joined the group', suppressed: 0 });
  });

  it('treats a coordinator that is loading as expected, and a transaction step kafkajs retries itself as noise', () => {
    const filter = new ClientLogFilter();
    expect(filter.filter('error', "Crash: KafkaJSProtocolError: The coordinator is loading and hence can't process requests", 0)?.level).toBe('warn');
    expect(filter.filter('error', 'Response AddPartitionsToTxn(key: 24, version: 1) The producer attempted to update a transaction while another concurrent operation on the same transaction was ongoing', 0)?.level).toBe('debug');
  });
});
