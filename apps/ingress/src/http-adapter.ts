import type { NestApplicationOptions } from '@nestjs/common';
import type { AbstractHttpAdapter } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { NodeHttpAdapter } from '@license-ledger/platform-nest';
import type { IngressOptions } from './config';

function httpsOptions(options: IngressOptions) {
  // A TLS handshake must finish as fast as plain headers must arrive (Node's default allows 120 s).
  return options.tls ? { cert: options.tls.cert, key: options.tls.key, handshakeTimeout: options.http.headersMs } : undefined;
}

/** Nest's options for the ingress: no body parser (LicenseBodyPipe reads the body), HTTPS when configured. */
export function ingressNestOptions(options: IngressOptions): NestApplicationOptions {
  const https = httpsOptions(options);
  return { bodyParser: false, ...(https ? { httpsOptions: https } : {}) };
}

/**
 * The ingress's HTTP platform (HTTP_ADAPTER). All leave POST /v1/license's body unread for
 * LicenseBodyPipe and route as Express does by default: case-insensitive, one trailing slash
 * allowed (isLicensePath). `node` (the default: Nest's pipeline over node:http, no framework
 * layer) costs the least CPU per request (tools/ingress/bench-http-layer.ts).
 */
export function ingressHttpAdapter(options: IngressOptions): AbstractHttpAdapter {
  if (options.httpAdapter === 'node') return new NodeHttpAdapter();
  if (options.httpAdapter === 'express') return new ExpressAdapter();
  const https = httpsOptions(options);
  // Fastify makes its server when constructed, so TLS goes here (Nest's httpsOptions only name the scheme).
  const adapter = new FastifyAdapter({
    ...(https ? { https } : {}),
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
    // Kept-alive gateways must not hold shutdown up (what Nest's forceCloseConnections does for Express).
    forceCloseConnections: true,
    // No Nest middleware runs on Fastify here (the platform's request metric is a Fastify hook), so no
    // middleware layer on every request; a middleware added later fails at boot, not silently.
    skipMiddie: true,
  });
  const fastify = adapter.getInstance();
  // Fastify would parse JSON and text itself and refuse other types with a 415 of its own: every
  // body is left unread for the route instead.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', (_request, _payload, done) => done(null));
  return adapter;
}
