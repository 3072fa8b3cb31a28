import { applyDecorators, ArgumentsHost, Catch, Controller, RpcExceptionFilter, UseFilters } from '@nestjs/common';
import { BaseRpcContext } from '@nestjs/microservices';
import type { BatchContext, ReceivedMessage } from '@license-ledger/platform-kafka';
import { Observable, throwError } from 'rxjs';

/** Whether a handler sees records read while a catch-up route loads, or records as they come. */
export type DeliveryPhase = 'catch-up' | 'live';

/**
 * What an `@EventPattern` handler of the bus transport gets through `@Ctx()`: the batch's topic and
 * partition, whether it is still this instance's, and a way to dead-letter a record it can never
 * process (BatchContext), plus which assignment it belongs to.
 */
export class BusContext extends BaseRpcContext<[BatchContext]> implements BatchContext {
  constructor(
    batch: BatchContext,
    readonly pattern: string,
    /** Counts the reader's assignments: a batch of a newer one means every partition was handed over since. */
    readonly generation: number,
    readonly phase: DeliveryPhase,
  ) {
    super([batch]);
  }

  get topic(): string {
    return this.args[0].topic;
  }

  get partition(): number {
    return this.args[0].partition;
  }

  isCurrent(): boolean {
    return this.args[0].isCurrent();
  }

  deadLetter(message: ReceivedMessage, reason: string): void {
    this.args[0].deadLetter(message, reason);
  }
}

/**
 * Hands a bus handler's error to the transport as it was thrown. Nest's default RPC filter would
 * replace it with `{ status: 'error', message: 'Internal server error' }`, and the transport needs
 * the error itself: whether it is transient decides between waiting and dead-lettering.
 */
@Catch()
export class KeepBusErrors implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}

/** A controller whose `@EventPattern` handlers read the bus (its errors reach the transport intact). */
export function BusController(): ClassDecorator {
  return applyDecorators(Controller(), UseFilters(new KeepBusErrors()));
}
