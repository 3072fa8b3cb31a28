import { createServer as createHttpServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { performance } from 'node:perf_hooks';
import type { NestApplicationOptions } from '@nestjs/common';
import { AbstractHttpAdapter } from '@nestjs/core';

/** A handler as Nest registers it on an Express-like platform (routes, the not-found handler). */
type RouteHandler = (request: IncomingMessage, response: ServerResponse, next: () => void) => unknown;
type ErrorHandler = (error: unknown, request: IncomingMessage, response: ServerResponse, next: () => void) => unknown;

/** What the platform's request metric receives when an answer is out. */
export type NodeRequestObserver = (method: string, route: string, status: number, seconds: number) => void;

interface Route {
  /** The path as registered (the request metric's label). */
  readonly path: string;
  readonly handler: RouteHandler;
}

/** The lookup key of a path: Express's default rules (case-insensitive, one trailing slash allowed, query ignored). */
function routeKey(url: string): string {
  const query = url.indexOf('?');
  let path = query < 0 ? url : url.slice(0, query);
  if (path.length > 1 && path.charCodeAt(path.length - 1) === 47 /* / */) path = path.slice(0, -1);
  return path.toLowerCase();
}

const unsupported = (what: string): Error => new Error(`NodeHttpAdapter: ${what} is not supported (the routes that need it belong on the Express or Fastify adapter)`);

/**
 * Nest's HTTP platform straight over node:http, for services whose routes are fixed paths: a table
 * lookup per request and Node's own request and response, with Nest's guards, pipes, interceptors and
 * exception filters running as on any platform. No path parameters, middleware, body parsing, CORS,
 * views or versioning: registering any of them fails at boot. The frameworks' per-request layers
 * (Fastify's content-type parsing with its async resource, Express's router and middleware chain)
 * cost as much CPU as a license request's own work; this costs little more than the lookup.
 */
export class NodeHttpAdapter extends AbstractHttpAdapter<Server, IncomingMessage, ServerResponse> {
  private readonly routes = new Map<string, Map<string, Route>>();
  private notFound: RouteHandler | undefined;
  private onError: ErrorHandler | undefined;
  private observer: NodeRequestObserver | undefined;
  private forceClose = false;

  constructor() {
    super({});
  }

  /** Calls `observer` once each answer is out (the platform's request metric). */
  observeRequests(observer: NodeRequestObserver): void {
    this.observer = observer;
  }

  override getType(): string {
    return 'node';
  }

  override initHttpServer(options: NestApplicationOptions): void {
    const listener = (request: IncomingMessage, response: ServerResponse): void => this.dispatch(request, response);
    this.httpServer = options.httpsOptions ? createHttpsServer(options.httpsOptions, listener) : createHttpServer(listener);
    this.forceClose = options.forceCloseConnections === true;
  }

  /** As Nest calls it: (port, host, callback) or (port, callback). */
  override listen(port: string | number, callback?: () => void): Server;
  override listen(port: string | number, hostname: string, callback?: () => void): Server;
  override listen(port: string | number, hostOrCallback?: string | (() => void), callback?: () => void): Server {
    if (typeof hostOrCallback === 'string') return this.httpServer.listen(Number(port), hostOrCallback, callback);
    return this.httpServer.listen(Number(port), hostOrCallback);
  }

  override async close(): Promise<void> {
    const server = this.httpServer as Server | undefined;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Kept-alive clients must not hold shutdown up (Express's adapter does the same when asked).
    if (this.forceClose) server.closeAllConnections();
    else server.closeIdleConnections();
    await closed;
  }

  override get(...args: unknown[]): void {
    this.register('GET', args);
  }

  override post(...args: unknown[]): void {
    this.register('POST', args);
  }

  override put(...args: unknown[]): void {
    this.register('PUT', args);
  }

  override patch(...args: unknown[]): void {
    this.register('PATCH', args);
  }

  override delete(...args: unknown[]): void {
    this.register('DELETE', args);
  }

  override head(...args: unknown[]): void {
    this.register('HEAD', args);
  }

  override options(...args: unknown[]): void {
    this.register('OPTIONS', args);
  }

  override all(): void {
    throw unsupported('@All()');
  }

  override use(): void {
    throw unsupported('app.use()');
  }

  override setNotFoundHandler(handler: RouteHandler): void {
    this.notFound = handler;
  }

  override setErrorHandler(handler: ErrorHandler): void {
    this.onError = handler;
  }

  override getRequestHostname(request: IncomingMessage): string {
    const host = request.headers.host ?? '';
    return host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : (host.split(':')[0] ?? '');
  }

  override getRequestMethod(request: IncomingMessage): string {
    return request.method ?? 'GET';
  }

  override getRequestUrl(request: IncomingMessage): string {
    return request.url ?? '/';
  }

  override status(response: ServerResponse, statusCode: number): void {
    response.statusCode = statusCode;
  }

  /** A handler's result: nothing, bytes or text as they are, anything else as JSON (as Express sends it). */
  override reply(response: ServerResponse, body: unknown, statusCode?: number): void {
    if (statusCode !== undefined) response.statusCode = statusCode;
    if (body === undefined || body === null) {
      response.end();
      return;
    }
    if (Buffer.isBuffer(body)) {
      if (!response.hasHeader('content-type')) response.setHeader('content-type', 'application/octet-stream');
      response.end(body);
      return;
    }
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    if (!response.hasHeader('content-type')) response.setHeader('content-type', typeof body === 'string' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8');
    response.setHeader('content-length', Buffer.byteLength(text));
    response.end(text);
  }

  override end(response: ServerResponse, message?: string): void {
    response.end(message);
  }

  override redirect(response: ServerResponse, statusCode: number, url: string): void {
    response.statusCode = statusCode;
    response.setHeader('location', url);
    response.end();
  }

  override isHeadersSent(response: ServerResponse): boolean {
    return response.headersSent;
  }

  override getHeader(response: ServerResponse, name: string): string | number | string[] | undefined {
    return response.getHeader(name);
  }

  override setHeader(response: ServerResponse, name: string, value: string): void {
    response.setHeader(name, value);
  }

  override appendHeader(response: ServerResponse, name: string, value: string): void {
    response.appendHeader(name, value);
  }

  override registerParserMiddleware(): void {
    // No body parsing: routes read their bodies themselves (Nest calls this only with bodyParser on).
    throw unsupported('body parsing (create the application with bodyParser: false)');
  }

  override createMiddlewareFactory(): (path: string, callback: unknown) => void {
    return () => {
      throw unsupported('Nest middleware');
    };
  }

  override applyVersionFilter(): never {
    throw unsupported('versioning');
  }

  override enableCors(): void {
    throw unsupported('CORS');
  }

  override useStaticAssets(): void {
    throw unsupported('static assets');
  }

  override setViewEngine(): void {
    throw unsupported('views');
  }

  override render(): void {
    throw unsupported('views');
  }

  private register(method: string, args: readonly unknown[]): void {
    const [path, handler] = args;
    if (typeof path !== 'string' || typeof handler !== 'function') throw unsupported('a route without a path');
    if (/[:*(]/.test(path)) throw unsupported(`the route ${method} ${path} (path parameters and wildcards)`);
    let table = this.routes.get(method);
    if (!table) this.routes.set(method, (table = new Map()));
    table.set(routeKey(path), { path, handler: handler as RouteHandler });
  }

  private dispatch(request: IncomingMessage, response: ServerResponse): void {
    const method = request.method ?? 'GET';
    const key = routeKey(request.url ?? '/');
    // HEAD answers as GET does (Node's response leaves the body out), as on Express and Fastify.
    const route = this.routes.get(method)?.get(key) ?? (method === 'HEAD' ? this.routes.get('GET')?.get(key) : undefined);
    const observer = this.observer;
    if (observer) {
      const started = performance.now();
      const label = route?.path ?? 'unmatched';
      response.once('finish', () => observer(method, label, response.statusCode, (performance.now() - started) / 1000));
    }
    const handler = route?.handler ?? this.notFound;
    const next = (): void => {
      // A handler that passes the request on has nothing more for it: not found.
      if (handler !== this.notFound && this.notFound) this.settle(this.notFound, request, response);
    };
    if (!handler) {
      response.statusCode = 404;
      response.end();
      return;
    }
    this.settle(handler, request, response, next);
  }

  /** Runs a handler; whatever escapes Nest's own exception handling goes to the error handler. */
  private settle(handler: RouteHandler, request: IncomingMessage, response: ServerResponse, next: () => void = () => undefined): void {
    const failed = (error: unknown): void => {
      if (this.onError) void this.onError(error, request, response, () => undefined);
      else if (!response.headersSent) {
        response.statusCode = 500;
        response.end();
      } else response.destroy();
    };
    try {
      const result = handler(request, response, next);
      if (result instanceof Promise) result.catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}
