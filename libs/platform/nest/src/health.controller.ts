import { ServerResponse } from 'node:http';
import { Controller, Get, HttpStatus, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { LOGGER, READINESS_PROBES, ReadinessProbe } from './tokens';

/**
 * One dependency as GET /health/ready shows it: whether it answers and a short generic state. Never
 * the error itself: driver and client errors carry hosts, users and internals; the log has them.
 */
export interface ProbeResult {
  readonly ok: boolean;
  /** `up`; `unavailable` (the check failed) or `timeout`; or a probe's own NotReady state. */
  readonly state: string;
  readonly ms: number;
}

/**
 * Thrown by a probe whose dependency is not ready for a known reason that is safe to show, such as
 * `loading`: /health/ready shows `state` as is (the message goes to the log only).
 */
export class NotReady extends Error {
  override readonly name = 'NotReady';
  constructor(
    readonly state: string,
    message: string = state,
  ) {
    super(message);
  }
}

/** What the controller logs with: the platform's pino logger has these. */
export interface HealthLogger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

const PROBE_TIMEOUT_MS = 2_000;

class ProbeTimeout extends Error {}

async function runProbe(probe: ReadinessProbe): Promise<{ result: ProbeResult; error?: unknown }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe.check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ProbeTimeout(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
      }),
    ]);
    return { result: { ok: true, state: 'up', ms: Date.now() - started } };
  } catch (error) {
    const state = error instanceof NotReady ? error.state : error instanceof ProbeTimeout ? 'timeout' : 'unavailable';
    return { result: { ok: false, state, ms: Date.now() - started }, error };
  } finally {
    clearTimeout(timer);
  }
}

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The status on Express's response, Fastify's reply (both have status()) or Node's own (NodeHttpAdapter). */
function setStatus(response: Response | ServerResponse, status: number): void {
  if (response instanceof ServerResponse && !('status' in response)) response.statusCode = status;
  else (response as Response).status(status);
}

@Controller('health')
export class HealthController {
  /** Last logged state per dependency: a failure is logged when it starts or changes, not on every poll. */
  private readonly logged = new Map<string, string>();

  constructor(
    @Inject(READINESS_PROBES) private readonly probes: readonly ReadinessProbe[],
    @Inject(LOGGER) private readonly logger: HealthLogger,
  ) {}

  /** Liveness: the process serves HTTP. Restarting it would not fix a broker outage. */
  @Get('live')
  live(): { status: 'alive' } {
    return { status: 'alive' };
  }

  /** Readiness: every dependency this service really uses answers right now. */
  @Get('ready')
  async ready(@Res({ passthrough: true }) response: Response | ServerResponse): Promise<{ status: string; checks: Record<string, ProbeResult> }> {
    // Read at each call: services add their own probes while they are constructed.
    const runs = await Promise.all(this.probes.map(async (p) => [p.name, await runProbe(p)] as const));
    for (const [name, run] of runs) this.logChange(name, run.result, run.error);
    const checks = Object.fromEntries(runs.map(([name, run]) => [name, run.result]));
    const ready = runs.every(([, run]) => run.result.ok);
    setStatus(response, ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ready ? 'ready' : 'not_ready', checks };
  }

  private logChange(name: string, result: ProbeResult, error: unknown): void {
    const key = result.ok ? 'up' : `${result.state}: ${errorText(error)}`;
    const previous = this.logged.get(name);
    if (previous === key || (previous === undefined && result.ok)) return;
    this.logged.set(name, key);
    if (result.ok) this.logger.info({ event: 'dependency_ready', dependency: name }, `${name} is ready again`);
    else this.logger.warn({ event: 'dependency_not_ready', dependency: name, state: result.state, err: error }, `${name} is not ready (${result.state})`);
  }
}
