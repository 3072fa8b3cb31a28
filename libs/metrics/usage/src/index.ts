export * from './telemetry-record';
export * from './deltas';
export * from './percentiles';
export * from './signature';
export * from './sample-record';
