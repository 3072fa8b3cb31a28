export * from './bus-routes';
export * from './bus-context';
export * from './bus-transport';
export * from './bus-transport.module';
export type { Backoff } from './retry';
