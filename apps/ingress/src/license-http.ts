import { IncomingMessage, ServerResponse } from 'node:http';
import { LICENSE_PATH } from '@license-ledger/protocol-exchange';
import type { Answer } from './license-handler';

/** A client that stopped sending its body half way (reset, timeout): nobody is left to answer. */
export class RequestBodyFailed extends Error {
  override readonly name = 'RequestBodyFailed';
}

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
    request.on('error', (error) => reject(new RequestBodyFailed(error.message, { cause: error })));
  });
}

/**
 * The route rule both HTTP adapters are configured for (Express's defaults; Fastify told so in
 * http-adapter.ts): query string ignored, case-insensitive, one trailing slash allowed.
 */
export function isLicensePath(url: string | undefined): boolean {
  if (url === undefined) return false;
  const query = url.indexOf('?');
  let path = query < 0 ? url : url.slice(0, query);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  return path.length === LICENSE_PATH.length && path.toLowerCase() === LICENSE_PATH;
}

/** What the ingress uses of Fastify's reply (its own type would tie this file to Fastify's package). */
interface ReplyLike {
  readonly raw: ServerResponse;
  hijack(): unknown;
}

const isReply = (response: unknown): response is ReplyLike =>
  typeof response === 'object' && response !== null && 'raw' in response && response.raw instanceof ServerResponse && 'hijack' in response;

/** Node's request under the adapter's: Express's request is one; Fastify's wraps it as `raw`. */
export function nodeRequestOf(request: unknown): IncomingMessage {
  if (request instanceof IncomingMessage) return request;
  if (typeof request === 'object' && request !== null && 'raw' in request && request.raw instanceof IncomingMessage) return request.raw;
  throw new TypeError('not an HTTP request of Express or Fastify');
}

/** Node's response under the adapter's (Express's response is one; Fastify's reply wraps it). */
export function nodeResponseOf(response: unknown): ServerResponse {
  if (response instanceof ServerResponse) return response;
  if (isReply(response)) return response.raw;
  throw new TypeError('not an HTTP response of Express or Fastify');
}

/** The peer's address, as the rate limits and logs key it (no proxy headers are trusted). */
export function clientAddressOf(request: IncomingMessage): string {
  return request.socket.remoteAddress ?? 'unknown';
}

/**
 * Sends `answer` byte for byte with its own content type, on Node's response. The adapters' own
 * serialisation would not (Express sends a Buffer as JSON through Nest and adds a charset to JSON)
 * and costs more than this route's answer needs: Fastify is told the route wrote it (hijack); its
 * onResponse hooks still run when the answer is out.
 */
export function writeAnswer(response: unknown, answer: Answer, closeConnection = false): void {
  if (isReply(response)) response.hijack();
  const node = nodeResponseOf(response);
  node.statusCode = answer.status;
  node.setHeader('content-type', answer.contentType);
  for (const [name, value] of Object.entries(answer.headers ?? {})) node.setHeader(name, value);
  if (closeConnection) node.setHeader('connection', 'close');
  node.end(answer.body);
}
