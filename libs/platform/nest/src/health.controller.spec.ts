import type { Response } from 'express';
import { HealthController } from './health.controller';
import { ReadinessProbe } from './tokens';

function fakeResponse(): { response: Response; status: () => number | undefined } {
  let code: number | undefined;
  const response = { status: (c: number) => ((code = c), response) } as unknown as Response;
  return { response, status: () => code };
}

const probe = (name: string, check: () => Promise<void>): ReadinessProbe => ({ name, check });

describe('HealthController', () => {
  it('is ready (200) only when every probe answers', async () => {
    const controller = new HealthController([probe('kafka', async () => undefined), probe('database', async () => undefined)]);
    const { response, status } = fakeResponse();
    const body = await controller.ready(response);
    expect(status()).toBe(200);
    expect(body.status).toBe('ready');
    expect(Object.keys(body.checks)).toEqual(['kafka', 'database']);
  });

  it('is not ready (503) and names the failing dependency and its error', async () => {
    const controller = new HealthController([
      probe('kafka', async () => {
        throw new Error('connect ECONNREFUSED');
      }),
      probe('database', async () => undefined),
    ]);
    const { response, status } = fakeResponse();
    const body = await controller.ready(response);
    expect(status()).toBe(503);
    expect(body).toMatchObject({
      status: 'not_ready',
      checks: { kafka: { ok: false, error: 'connect ECONNREFUSED' }, database: { ok: true } },
    });
  });

  it('treats a probe that hangs as failed after its timeout', async () => {
    const controller = new HealthController([probe('database', () => new Promise<void>(() => undefined))]);
    const { response, status } = fakeResponse();
    const body = await controller.ready(response);
    expect(status()).toBe(503);
    expect(body.checks['database']?.error).toMatch(/no answer within/);
  });

  it('is alive whatever the dependencies say', () => {
    expect(new HealthController([]).live()).toEqual({ status: 'alive' });
  });
});
