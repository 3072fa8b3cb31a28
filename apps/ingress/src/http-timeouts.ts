import type { Server } from 'node:http';
import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { applyHttpTimeouts } from '@license-ledger/platform-nest';
import type { IngressOptions } from './config';
import { INGRESS_OPTIONS } from './tokens';

/**
 * The ingress's configured connection timeouts (HTTP_*_TIMEOUT_MS), in place of the platform's
 * defaults. Set on Node's server itself (Express's or Fastify's, whose own timeout options these
 * replace), so they hold for every connection and route. Bootstrap hooks run before the server
 * listens, which is when Node starts checking the deadlines.
 */
@Injectable()
export class IngressHttpTimeouts implements OnApplicationBootstrap {
  constructor(
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(INGRESS_OPTIONS) private readonly options: IngressOptions,
  ) {}

  onApplicationBootstrap(): void {
    applyHttpTimeouts(this.adapterHost.httpAdapter.getHttpServer() as Server, this.options.http);
  }
}
