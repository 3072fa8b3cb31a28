export * from './message-bus';
export * from './kafkajs-message-bus';
export * from './topics';
export * from './ensure-topics';
export * from './batching-publisher';
