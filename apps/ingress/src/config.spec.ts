import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeKeyPairFiles } from '@license-ledger/protocol-crypto';
import { z } from 'zod';
import { ingressConfigShape, ingressOptions } from './config';

describe('ingress configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ingress-config-'));
  const box = writeKeyPairFiles({ dir, name: 'server-box', kind: 'box' });
  const sign = writeKeyPairFiles({ dir, name: 'server-sign', kind: 'sign' });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const optionsOf = (env: Record<string, string>) => ingressOptions(z.object(ingressConfigShape).parse({ SERVER_BOX_KEY_FILE: box.secretKeyPath, SERVER_SIGN_KEY_FILE: sign.secretKeyPath, ...env }));

  it('closes idle and slow connections by default: headers in 10 s, the request in 30 s, idle after 65 s', () => {
    const prepared = optionsOf({});
    expect('options' in prepared && prepared.options.http).toEqual({ headersMs: 10_000, requestMs: 30_000, keepAliveMs: 65_000, idleMs: 65_000 });
    const custom = optionsOf({ HTTP_HEADERS_TIMEOUT_MS: '500', HTTP_REQUEST_TIMEOUT_MS: '900', HTTP_KEEP_ALIVE_TIMEOUT_MS: '700', HTTP_IDLE_TIMEOUT_MS: '3000' });
    expect('options' in custom && custom.options.http).toEqual({ headersMs: 500, requestMs: 900, keepAliveMs: 700, idleMs: 3_000 });
  });

  it('refuses timeouts that contradict each other or the ledger timeout', () => {
    expect(optionsOf({ HTTP_HEADERS_TIMEOUT_MS: '5000', HTTP_REQUEST_TIMEOUT_MS: '4000' })).toEqual({
      problems: ['HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS (headers are part of the request)'],
    });
    expect(optionsOf({ LEDGER_TIMEOUT_MS: '5000', HTTP_IDLE_TIMEOUT_MS: '5000' })).toEqual({
      problems: ['HTTP_IDLE_TIMEOUT_MS must exceed LEDGER_TIMEOUT_MS (a connection waiting for the ledger is idle)'],
    });
    expect(() => optionsOf({ HTTP_HEADERS_TIMEOUT_MS: '0' })).toThrow(z.ZodError);
  });
});
