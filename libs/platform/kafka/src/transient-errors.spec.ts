import { isTransientError } from './transient-errors';

const withFields = (message: string, fields: Record<string, unknown>): Error => Object.assign(new Error(message), fields);

describe('isTransientError', () => {
  it.each([
    ['connection refused', withFields('connect ECONNREFUSED 127.0.0.1:5432', { code: 'ECONNREFUSED' })],
    ['connection reset', withFields('read ECONNRESET', { code: 'ECONNRESET' })],
    ['pg connection exception (class 08)', withFields('connection failure', { code: '08006' })],
    ['pg admin shutdown', withFields('terminating connection due to administrator command', { code: '57P01' })],
    ['pg cannot connect now', withFields('the database system is starting up', { code: '57P03' })],
    ['pg too many connections', withFields('sorry, too many clients already', { code: '53300' })],
    ['pg serialization failure', withFields('could not serialize access', { code: '40001' })],
    ['pg deadlock', withFields('deadlock detected', { code: '40P01' })],
    ['pg lost connection without code', new Error('Connection terminated unexpectedly')],
    ['pg pool connect timeout', new Error('timeout exceeded when trying to connect')],
    ['Prisma cannot reach the database', withFields('Can’t reach database server', { code: 'P1001' })],
    ['Prisma adapter error kind', withFields('driver adapter error', { meta: { driverAdapterError: { cause: { kind: 'DatabaseNotReachable' } } } })],
    ['kafkajs connection error', withFields('Connection error: connect ECONNREFUSED', { name: 'KafkaJSConnectionError', retriable: true })],
    ['kafkajs request timeout', withFields('Request Produce timed out', { name: 'KafkaJSRequestTimeoutError', retriable: true })],
    ['kafkajs retriable protocol error', withFields('There is no leader for this topic-partition', { name: 'KafkaJSProtocolError', retriable: true, type: 'LEADER_NOT_AVAILABLE' })],
    ['wrapped in Error.cause', new Error('store failed', { cause: withFields('x', { code: 'ECONNREFUSED' }) })],
    ['kafkajs retries exhausted (originalError)', withFields('retries exceeded', { name: 'KafkaJSNonRetriableError', originalError: withFields('timeout', { name: 'KafkaJSRequestTimeoutError' }) })],
    ['AggregateError of connection attempts', new AggregateError([withFields('connect ECONNREFUSED ::1:5432', { code: 'ECONNREFUSED' })], 'connect failed')],
  ])('%s is transient', (_name, error) => {
    expect(isTransientError(error)).toBe(true);
  });

  it.each([
    ['bigint overflow', withFields('bigint out of range', { code: '22003' })],
    ['NUL in text', withFields('unsupported Unicode escape sequence', { code: '22P05' })],
    ['unique violation', withFields('duplicate key value violates unique constraint', { code: '23505' })],
    ['bad JSON', new SyntaxError('Unexpected token n in JSON at position 1')],
    ['validation failure', new TypeError('agreementId must be a string')],
    ['Prisma value out of range', withFields('Value out of range for the type', { code: 'P2020' })],
    ['kafkajs non-retriable protocol error', withFields('The request included a message larger than the max message size', { name: 'KafkaJSProtocolError', retriable: false, type: 'MESSAGE_TOO_LARGE' })],
    ['a string', 'boom'],
    ['null', null],
    ['undefined', undefined],
  ])('%s is not transient', (_name, error) => {
    expect(isTransientError(error)).toBe(false);
  });

  it('survives a cause cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    Object.assign(a, { cause: b });
    expect(isTransientError(a)).toBe(false);
  });
});
