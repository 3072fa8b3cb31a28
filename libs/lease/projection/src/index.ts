export * from './ledger-projection';
export * from './ledger-projector';
export * from './projection-reader';
export * from './scratch-schema';
