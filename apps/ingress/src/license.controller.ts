import { Controller, Get, Header, Inject, Post, Req, Res } from '@nestjs/common';
import { LICENSE_KEYS_PATH, LICENSE_PATH, type ServerKeysDocument } from '@license-ledger/protocol-exchange';
import type { Request, Response } from 'express';
import type { Answer } from './license-handler';
import { LicenseService } from './license.service';
import { openApiDocument } from './openapi';

/** Reads the body up to `limit` bytes; null (and the rest is discarded) when it is longer. */
export function readBody(request: Request, limit: number): Promise<Buffer | null> {
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

function send(response: Response, answer: Answer, closeConnection = false): void {
  response.status(answer.status);
  response.setHeader('content-type', answer.contentType);
  for (const [name, value] of Object.entries(answer.headers ?? {})) response.setHeader(name, value);
  if (closeConnection) response.setHeader('connection', 'close');
  response.end(answer.body);
}

/** The gateways' endpoints (docs/protocol.md, Exchange) and the OpenAPI document describing them. */
@Controller()
export class LicenseController {
  private readonly openApi: string;

  constructor(@Inject(LicenseService) private readonly license: LicenseService) {
    this.openApi = JSON.stringify(openApiDocument(license.options.maxBodyBytes));
  }

  @Post(LICENSE_PATH)
  async obtain(@Req() request: Request, @Res() response: Response): Promise<void> {
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
