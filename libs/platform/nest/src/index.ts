export * from './tokens';
export * from './nest-logger';
export * from './platform.module';
export * from './health.controller';
export * from './metrics';
export * from './prisma.service';
export * from './bootstrap';
export * from './run-service';
