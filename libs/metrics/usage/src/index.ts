export * from './telemetry-record';
export * from './telemetry-binary';
export * from './telemetry-parse';
export * from './deltas';
export * from './percentiles';
export * from './signature';
export * from './sample-record';
