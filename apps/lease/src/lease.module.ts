import { Module, Type } from '@nestjs/common';
import { BusTransportModule, PlatformModule, PlatformOptions } from '@license-ledger/platform-nest';
import { LEASE_OPTIONS, LeaseOptions, LeaseProcessorService } from './lease-processor.service';
import { ProjectionController } from './projection.controller';
import { projectionRoute, ProjectionService } from './projection.service';

/** The single writer of the lease ledger; its HTTP port serves health and metrics only. */
export function createLeaseModule(platform: PlatformOptions, options: LeaseOptions): Type<unknown> {
  @Module({
    imports: [PlatformModule.forRoot(platform), BusTransportModule.forRoot({ leaseEvents: projectionRoute(options) })],
    controllers: [ProjectionController],
    providers: [{ provide: LEASE_OPTIONS, useValue: options }, LeaseProcessorService, ProjectionService],
  })
  class LeaseModule {}
  return LeaseModule;
}
