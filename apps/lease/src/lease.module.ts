import { Module, Type } from '@nestjs/common';
import { PlatformModule, PlatformOptions } from '@license-ledger/platform-nest';

/** The single writer of the lease ledger; its HTTP port serves health and metrics only. */
export function createLeaseModule(platform: PlatformOptions): Type<unknown> {
  @Module({ imports: [PlatformModule.forRoot(platform)] })
  class LeaseModule {}
  return LeaseModule;
}
