export * from './message-bus';
export * from './kafkajs-message-bus';
export * from './topics';
export * from './ensure-topics';
export * from './batching-publisher';
export * from './dead-letter';
export * from './transient-errors';
