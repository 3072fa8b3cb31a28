import type { Response } from 'express';
import { HealthController, NotReady } from './health.controller';
import { ReadinessProbe } from './tokens';

function fakeResponse(): { response: Response; status: () => number | undefined } {
  let code: number | undefined;
  const response = { status: (c: number) => ((code = c), response) } as unknown as Response;
  return { response, status: () => code };
}

const probe = (name: string, check: () => Promise<void>): ReadinessProbe => ({ name, check });

function controllerOf(probes: ReadinessProbe[]) {
  const lines: Array<{ level: 'warn' | 'info'; fields: Record<string, unknown>; message: string }> = [];
  const logger = {
    warn: (fields: object, message: string) => void lines.push({ level: 'warn', fields: fields as Record<string, unknown>, message }),
    info: (fields: object, message: string) => void lines.push({ level: 'info', fields: fields as Record<string, unknown>, message }),
  };
  return { controller: new HealthController(probes, logger), lines };
}

// What a database driver says when PostgreSQL is away: host, port, user and database included.
const driverError = new Error('Invalid `prisma.$queryRaw()` invocation: connect ECONNREFUSED 10.1.2.3:5432 (user "ledger", database "license_ledger")');

describe('HealthController', () => {
  it('is ready (200) only when every probe answers', async () => {
    const { controller } = controllerOf([probe('kafka', async () => undefined), probe('database', async () => undefined)]);
    const { response, status } = fakeResponse();
    const body = await controller.ready(response);
    expect(status()).toBe(200);
    expect(body).toEqual({ status: 'ready', checks: { kafka: { ok: true, state: 'up', ms: expect.any(Number) }, database: { ok: true, state: 'up', ms: expect.any(Number) } } });
  });

  it('is not ready (503), names the failing dependency with a generic state, and logs the error instead of showing it', async () => {
    const { controller, lines } = controllerOf([
      probe('kafka', async () => undefined),
      probe('database', async () => {
        throw driverError;
      }),
    ]);
    const { response, status } = fakeResponse();
    const body = await controller.ready(response);
    expect(status()).toBe(503);
    expect(body).toEqual({ status: 'not_ready', checks: { kafka: { ok: true, state: 'up', ms: expect.any(Number) }, database: { ok: false, state: 'unavailable', ms: expect.any(Number) } } });
    expect(JSON.stringify(body)).not.toMatch(/ECONNREFUSED|prisma|10\.1\.2\.3|ledger"/);
    expect(lines).toEqual([{ level: 'warn', fields: { event: 'dependency_not_ready', dependency: 'database', state: 'unavailable', err: driverError }, message: 'database is not ready (unavailable)' }]);
  });

  it('logs a failure when it starts, changes or ends, not on every poll', async () => {
    let failure: Error | undefined = new Error('down');
    const { controller, lines } = controllerOf([
      probe('kafka', async () => {
        if (failure) throw failure;
      }),
    ]);
    const poll = async (): Promise<unknown> => controller.ready(fakeResponse().response);
    await poll();
    await poll();
    failure = new Error('still down, differently');
    await poll();
    failure = undefined;
    await poll();
    await poll();
    expect(lines.map((l) => [l.level, l.message, (l.fields['err'] as Error | undefined)?.message])).toEqual([
      ['warn', 'kafka is not ready (unavailable)', 'down'],
      ['warn', 'kafka is not ready (unavailable)', 'still down, differently'],
      ['info', 'kafka is ready again', undefined],
    ]);
  });

  it("shows a probe's own NotReady state, and reads probes added after construction", async () => {
    const probes: ReadinessProbe[] = [];
    const { controller } = controllerOf(probes);
    probes.push(
      probe('key_directory', async () => {
        throw new NotReady('loading', 'read 3 of 12 partitions');
      }),
    );
    const body = await controller.ready(fakeResponse().response);
    expect(body.checks).toEqual({ key_directory: { ok: false, state: 'loading', ms: expect.any(Number) } });
  });

  it('treats a probe that hangs as failed after its timeout', async () => {
    const { controller, lines } = controllerOf([probe('database', () => new Promise<void>(() => undefined))]);
    const { response, status } = fakeResponse();
    const body = await controller.ready(response);
    expect(status()).toBe(503);
    expect(body.checks['database']).toMatchObject({ ok: false, state: 'timeout' });
    expect((lines[0]?.fields['err'] as Error).message).toMatch(/no answer within/);
  });

  it('is alive whatever the dependencies say', () => {
    expect(controllerOf([]).controller.live()).toEqual({ status: 'alive' });
  });
});
