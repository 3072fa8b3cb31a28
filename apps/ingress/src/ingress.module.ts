import { Module, Type } from '@nestjs/common';
import { PlatformModule, PlatformOptions } from '@license-ledger/platform-nest';

/** The gateways' HTTP entry point. */
export function createIngressModule(platform: PlatformOptions): Type<unknown> {
  @Module({ imports: [PlatformModule.forRoot(platform)] })
  class IngressModule {}
  return IngressModule;
}
