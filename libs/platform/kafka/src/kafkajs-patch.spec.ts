import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertKafkajsPatched } from './kafkajs-patch';

describe('kafkajs produce-retry patch', () => {
  it('is installed: the installed sendMessages.js is the project copy', () => {
    const installed = readFileSync(require.resolve('kafkajs/src/producer/sendMessages.js'), 'utf8');
    const ours = readFileSync(join(__dirname, '..', '..', '..', '..', 'tools', 'patches', 'kafkajs', 'sendMessages.js'), 'utf8');
    expect(installed).toBe(ours);
    expect(() => assertKafkajsPatched()).not.toThrow();
  });
});
