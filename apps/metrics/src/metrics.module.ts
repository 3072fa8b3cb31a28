import { MiddlewareConsumer, Module, NestModule, Type } from '@nestjs/common';
import { PlatformModule, PlatformOptions } from '@license-ledger/platform-nest';
import { API_AUTH_OPTIONS, ApiAuthMiddleware, ApiAuthOptions, DEFAULT_API_AUTH_OPTIONS } from './api/api-auth';
import { QueryController } from './api/query.controller';
import { QueryService } from './api/query.service';
import { TELEMETRY_OPTIONS, TelemetryConsumer, TelemetryOptions } from './telemetry/telemetry.consumer';

/** The telemetry sink and the analysts' query API. */
export function createMetricsModule(platform: PlatformOptions, telemetry: TelemetryOptions, auth: ApiAuthOptions = DEFAULT_API_AUTH_OPTIONS): Type<unknown> {
  @Module({
    imports: [PlatformModule.forRoot(platform)],
    controllers: [QueryController],
    providers: [{ provide: TELEMETRY_OPTIONS, useValue: telemetry }, { provide: API_AUTH_OPTIONS, useValue: auth }, TelemetryConsumer, QueryService],
  })
  class MetricsModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(ApiAuthMiddleware).forRoutes('v1/*path');
    }
  }
  return MetricsModule;
}
