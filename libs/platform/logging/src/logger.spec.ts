import { Writable } from 'node:stream';
import { createLogger } from './logger';

describe('createLogger', () => {
  it('writes one JSON line with service, level and time, and redacts secrets', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger('ingress', 'info', sink);
    logger.info({ secretKey: 'abc' }, 'hello');
    logger.debug('not at info level');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    expect(entry).toMatchObject({ service: 'ingress', level: 'info', msg: 'hello', secretKey: '[redacted]' });
    expect(typeof entry['time']).toBe('string');
  });
});
