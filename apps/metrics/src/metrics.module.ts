import { MiddlewareConsumer, Module, NestModule, Type } from '@nestjs/common';
import { BusTransportModule, PlatformModule, PlatformOptions } from '@license-ledger/platform-nest';
import { API_AUTH_OPTIONS, ApiAuthMiddleware, ApiAuthOptions, DEFAULT_API_AUTH_OPTIONS } from './api/api-auth';
import { LicenseUsageController } from './api/license-usage.controller';
import { QueryController } from './api/query.controller';
import { QueryService } from './api/query.service';
import { SeriesController } from './api/series.controller';
import { SeriesService } from './api/series.service';
import { DashboardController } from './dashboard/dashboard.controller';
import { TelemetryConsumer, TelemetryOptions, telemetryRoute } from './telemetry/telemetry.consumer';
import { TelemetryController } from './telemetry/telemetry.controller';
import { DEFAULT_USAGE_HISTORY_OPTIONS, UsageHistoryConsumer, UsageHistoryOptions, usageHistoryRoute } from './usage-history/usage-history.consumer';
import { UsageHistoryController } from './usage-history/usage-history.controller';

/** The telemetry sink, the usage history (folded from the lease events) and the analysts' query API. */
export function createMetricsModule(
  platform: PlatformOptions,
  telemetry: TelemetryOptions,
  auth: ApiAuthOptions = DEFAULT_API_AUTH_OPTIONS,
  usageHistory: UsageHistoryOptions = DEFAULT_USAGE_HISTORY_OPTIONS,
): Type<unknown> {
  @Module({
    imports: [PlatformModule.forRoot(platform), BusTransportModule.forRoot({ telemetry: telemetryRoute(telemetry), leaseEvents: usageHistoryRoute(usageHistory) })],
    controllers: [TelemetryController, UsageHistoryController, QueryController, LicenseUsageController, SeriesController, DashboardController],
    providers: [
      { provide: API_AUTH_OPTIONS, useValue: auth },
      TelemetryConsumer,
      QueryService,
      UsageHistoryConsumer,
      SeriesService,
    ],
  })
  class MetricsModule implements NestModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(ApiAuthMiddleware).forRoutes('v1/*path');
    }
  }
  return MetricsModule;
}
