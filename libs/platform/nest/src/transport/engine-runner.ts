import { NotReady } from '../health.controller';
import type { BusEngine } from './bus-routes';
import { Backoff, keepTrying, RetryLogger } from './retry';

type EngineState = { readonly kind: 'starting' } | { readonly kind: 'running' } | { readonly kind: 'stopped' };

/** Starts an engine in the background (retrying while it cannot), probes it, and stops it. */
export class EngineRunner {
  private state: EngineState = { kind: 'starting' };
  private readonly aborter = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    readonly engine: BusEngine,
    private readonly logger: RetryLogger & { info(fields: object, message: string): void },
    private readonly backoff: Backoff,
  ) {}

  start(): void {
    this.running ??= this.run();
  }

  isRunning(): boolean {
    return this.state.kind === 'running';
  }

  async check(): Promise<void> {
    switch (this.state.kind) {
      case 'starting':
        throw new NotReady('starting', `${this.engine.name}: not started yet`);
      case 'stopped':
        throw new NotReady('stopped', `${this.engine.name}: stopped`);
      case 'running':
        await this.engine.check?.();
        return;
      default: {
        const unknown: never = this.state;
        throw new Error(`unknown engine state ${JSON.stringify(unknown)}`);
      }
    }
  }

  /** Waits for a start under way (it cannot be interrupted), then stops the engine if it runs. */
  async stop(): Promise<void> {
    this.aborter.abort();
    await this.running;
    const wasRunning = this.state.kind === 'running';
    this.state = { kind: 'stopped' };
    if (wasRunning) await this.engine.stop();
  }

  private async run(): Promise<void> {
    const fields = { engine: this.engine.name };
    const started = await keepTrying(this.engine.name, fields, () => this.engine.start(), { signal: this.aborter.signal, backoff: this.backoff, logger: this.logger });
    if (!started) return;
    this.state = { kind: 'running' };
    this.logger.info({ ...fields, event: 'engine_started' }, `${this.engine.name} started`);
  }
}
