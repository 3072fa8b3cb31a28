import { Module, Type } from '@nestjs/common';
import { PlatformModule, PlatformOptions } from '@license-ledger/platform-nest';
import { TELEMETRY_OPTIONS, TelemetryConsumer, TelemetryOptions } from './telemetry/telemetry.consumer';

/** The telemetry sink and the analysts' query API. */
export function createMetricsModule(platform: PlatformOptions, telemetry: TelemetryOptions): Type<unknown> {
  @Module({
    imports: [PlatformModule.forRoot(platform)],
    providers: [{ provide: TELEMETRY_OPTIONS, useValue: telemetry }, TelemetryConsumer],
  })
  class MetricsModule {}
  return MetricsModule;
}
