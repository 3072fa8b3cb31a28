import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Controller, Get, Header, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { LOGGER, MetricsRegistry } from '@license-ledger/platform-nest';
import type { Logger } from '@license-ledger/platform-logging';
import { LICENSE_KEYS_PATH, LICENSE_PATH, type ServerKeysDocument } from '@license-ledger/protocol-exchange';
import type { Answer } from './license-handler';
import { LicenseService } from './license.service';
import { openApiDocument } from './openapi';

/** Reads the body up to `limit` bytes; null (and the rest is discarded) when it is longer. */
export function readBody(request: IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let over = false;
    request.on('data', (chunk: Buffer) => {
      if (over) return;
      length += chunk.byteLength;
      if (length > limit) {
        over = true;
        chunks.length = 0;
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    request.on('end', () => {
      if (!over) resolve(chunks.length === 1 && chunks[0] ? chunks[0] : Buffer.concat(chunks, length));
    });
    request.on('error', reject);
  });
}

/** Matches as Express did for the route: query string ignored, case-insensitive, one trailing slash allowed. */
export function isLicensePath(url: string | undefined): boolean {
  if (url === undefined) return false;
  const query = url.indexOf('?');
  let path = query < 0 ? url : url.slice(0, query);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path.length === LICENSE_PATH.length && path.toLowerCase() === LICENSE_PATH;
}

function send(response: ServerResponse, answer: Answer, closeConnection = false): void {
  response.statusCode = answer.status;
  response.setHeader('content-type', answer.contentType);
  for (const [name, value] of Object.entries(answer.headers ?? {})) response.setHeader(name, value);
  if (closeConnection) response.setHeader('connection', 'close');
  response.end(answer.body);
}

/**
 * POST /v1/license, served straight from Node's HTTP server: it is nearly all of the ingress's
 * traffic, and Express's router and Nest's pipeline cost about as much CPU per request as opening
 * and sealing the exchange (measured: ~4,300 trivial GETs/s through them on this machine). Every
 * other route still goes through Nest; this one records the same request metric.
 */
@Injectable()
export class LicenseFastPath implements OnApplicationBootstrap {
  constructor(
    @Inject(LicenseService) private readonly license: LicenseService,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(MetricsRegistry) private readonly metrics: MetricsRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const server = this.adapterHost.httpAdapter.getHttpServer() as Server;
    const others = server.listeners('request') as Array<(request: IncomingMessage, response: ServerResponse) => void>;
    server.removeAllListeners('request');
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      if (request.method === 'POST' && isLicensePath(request.url)) {
        this.obtain(request, response).catch((error: unknown) => {
          // The handler never throws by design; anything else must not take the process down.
          this.logger.error({ event: 'license_endpoint_failed', err: error }, 'unexpected error serving POST /v1/license');
          response.destroy();
        });
        return;
      }
      for (const listener of others) listener.call(server, request, response);
    });
  }

  async obtain(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const stop = this.metrics.httpRequestSeconds.startTimer();
    response.on('finish', () => stop({ method: 'POST', route: LICENSE_PATH, status: String(response.statusCode) }));
    const handler = this.license.handler;
    const address = request.socket.remoteAddress ?? 'unknown';
    const declared = request.headers['content-length'];
    const early = handler.precheck(request.headers['content-type'], declared === undefined ? undefined : Number(declared), address);
    if (early) {
      // The body is not read: ask the client to close rather than drain it.
      send(response, early, true);
      request.resume();
      return;
    }
    let body: Buffer | null;
    try {
      body = await readBody(request, this.license.options.maxBodyBytes);
    } catch {
      response.destroy();
      return;
    }
    if (body === null) {
      send(response, handler.tooLarge(address), true);
      request.resume();
      return;
    }
    send(response, await handler.handle(body, address));
  }
}

/** The gateways' read-only endpoints and the OpenAPI document (POST /v1/license: LicenseFastPath). */
@Controller()
export class LicenseController {
  private readonly openApi: string;

  constructor(@Inject(LicenseService) private readonly license: LicenseService) {
    this.openApi = JSON.stringify(openApiDocument(license.options.maxBodyBytes));
  }

  @Get(LICENSE_KEYS_PATH)
  keys(): ServerKeysDocument {
    return this.license.crypto.keysDocument();
  }

  @Get('openapi.json')
  @Header('content-type', 'application/json; charset=utf-8')
  openapi(): string {
    return this.openApi;
  }
}
