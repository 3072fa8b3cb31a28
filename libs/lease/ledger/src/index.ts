export * from './records';
export * from './partition-ledger';
export * from './lease-processor';
export * from './ledger-client';
export * from './key-directory';
