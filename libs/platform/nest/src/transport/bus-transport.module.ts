import { DynamicModule, INestApplication, Module } from '@nestjs/common';
import type { BusRoutes } from './bus-routes';
import { BUS_BACKOFF, BUS_ROUTES, BusTransport } from './bus-transport';
import type { Backoff } from './retry';

/**
 * Gives a service the bus transport for `routes`: import it next to PlatformModule, put the
 * handlers in `@BusController()` controllers, and the bootstrap (startHttpService) connects it.
 */
@Module({})
export class BusTransportModule {
  static forRoot(routes: BusRoutes, options: { readonly backoff?: Backoff } = {}): DynamicModule {
    return {
      module: BusTransportModule,
      providers: [{ provide: BUS_ROUTES, useValue: routes }, ...(options.backoff ? [{ provide: BUS_BACKOFF, useValue: options.backoff }] : []), BusTransport],
      exports: [BusTransport],
    };
  }
}

/**
 * Makes `app` a hybrid application whose Kafka readers are its `@EventPattern` handlers, and
 * starts them (in the background: the service runs, not ready, while the broker is away). An
 * application without BusTransportModule is left as it is. `app.close()` stops them, after HTTP and
 * before the shutdown hooks close the bus and the database pools.
 */
export async function connectBusTransport(app: INestApplication): Promise<void> {
  let transport: BusTransport;
  try {
    transport = app.get(BusTransport, { strict: false });
  } catch {
    return;
  }
  app.connectMicroservice({ strategy: transport });
  await app.startAllMicroservices();
}
