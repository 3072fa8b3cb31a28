import { Module, Type } from '@nestjs/common';
import { BusTransportModule, PlatformModule, PlatformOptions } from '@license-ledger/platform-nest';
import type { IngressOptions } from './config';
import { IngressHttpTimeouts } from './http-timeouts';
import { LedgerController } from './ledger.controller';
import { ledgerRoutes, LedgerService } from './ledger.service';
import { LicenseController } from './license.controller';
import { LicenseService } from './license.service';
import { ReleaseController } from './release.controller';
import { ReleaseService } from './release.service';
import { INGRESS_OPTIONS } from './tokens';

/** The gateways' HTTP entry point. */
export function createIngressModule(platform: PlatformOptions, options: IngressOptions): Type<unknown> {
  @Module({
    // The ingress keeps no state in PostgreSQL: its readiness must not depend on the database.
    imports: [PlatformModule.forRoot({ ...platform, usesDatabase: false }), BusTransportModule.forRoot(ledgerRoutes(platform, options))],
    controllers: [LicenseController, ReleaseController, LedgerController],
    providers: [{ provide: INGRESS_OPTIONS, useValue: options }, LedgerService, LicenseService, ReleaseService, IngressHttpTimeouts],
  })
  class IngressModule {}
  return IngressModule;
}
