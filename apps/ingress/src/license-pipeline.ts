import type { IncomingMessage } from 'node:http';
import {
  ArgumentsHost,
  CanActivate,
  Catch,
  createParamDecorator,
  ExceptionFilter,
  ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  PipeTransform,
} from '@nestjs/common';
import type { IngressOptions } from './config';
import type { Answer } from './license-handler';
import { clientAddressOf, nodeRequestOf, nodeResponseOf, readBody, RequestBodyFailed, writeAnswer } from './license-http';
import { LicenseService } from './license.service';

/**
 * POST /v1/license's refusals (400, 413, 415, 429, 503) on their way to LicenseRefusalFilter,
 * which sends their protocol body as it is. `closeConnection` when the body was not read.
 */
export class LicenseRefusal extends HttpException {
  constructor(
    readonly answer: Answer,
    readonly closeConnection = false,
  ) {
    super(answer.body.toString('utf8'), answer.status);
  }
}

/** What the pipeline's parts use of LicenseService. */
export type LicenseEndpoint = Pick<LicenseService, 'handler'> & { readonly options: Pick<IngressOptions, 'maxBodyBytes'> };

/** Node's request, whichever adapter serves it: what LicenseBodyPipe reads the body from. */
export const NodeRequest = createParamDecorator((_data: unknown, context: ExecutionContext): IncomingMessage => nodeRequestOf(context.switchToHttp().getRequest()));

/** The peer's address, as the rate limits and logs key it. */
export const ClientAddress = createParamDecorator((_data: unknown, context: ExecutionContext): string => clientAddressOf(nodeRequestOf(context.switchToHttp().getRequest())));

/** True when answering now would leave an unbounded or over-long body on the connection. */
function bodyMayBeLong(request: IncomingMessage, limit: number): boolean {
  const declared = request.headers['content-length'];
  return declared === undefined || !(Number(declared) <= limit);
}

/** The per-address token bucket, before the body is read: a flood costs no body reading. */
@Injectable()
export class AddressRateLimitGuard implements CanActivate {
  constructor(@Inject(LicenseService) private readonly license: LicenseEndpoint) {}

  canActivate(context: ExecutionContext): boolean {
    const request = nodeRequestOf(context.switchToHttp().getRequest());
    const limited = this.license.handler.admitAddress(clientAddressOf(request));
    if (limited) throw new LicenseRefusal(limited, bodyMayBeLong(request, this.license.options.maxBodyBytes));
    return true;
  }
}

/**
 * The raw binary body (the ingress has no body parser): 415 for another content type and 413 for a
 * declared length over MAX_BODY_BYTES without reading it, 413 once more than that has arrived.
 */
@Injectable()
export class LicenseBodyPipe implements PipeTransform<IncomingMessage, Promise<Buffer>> {
  constructor(@Inject(LicenseService) private readonly license: LicenseEndpoint) {}

  async transform(request: IncomingMessage): Promise<Buffer> {
    const { handler, options } = this.license;
    const address = clientAddressOf(request);
    const declared = request.headers['content-length'];
    const early = handler.precheck(request.headers['content-type'], declared === undefined ? undefined : Number(declared), address);
    if (early) throw new LicenseRefusal(early, true);
    const body = await readBody(request, options.maxBodyBytes);
    if (body === null) throw new LicenseRefusal(handler.tooLarge(address), true);
    return body;
  }
}

/**
 * Everything POST /v1/license throws ends here: refusals are sent as the protocol words them, a
 * client gone mid-body loses its connection, and anything else is logged and answered 503 with
 * Retry-After (a gateway retries that; a 500 would tell it nothing).
 */
@Catch()
export class LicenseRefusalFilter implements ExceptionFilter {
  constructor(@Inject(LicenseService) private readonly license: LicenseEndpoint) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const request = nodeRequestOf(http.getRequest());
    const response: unknown = http.getResponse();
    if (exception instanceof RequestBodyFailed || nodeResponseOf(response).headersSent) {
      request.socket.destroy();
      return;
    }
    const refusal = exception instanceof LicenseRefusal ? exception : new LicenseRefusal(this.license.handler.unexpected(exception, clientAddressOf(request)));
    writeAnswer(response, refusal.answer, refusal.closeConnection);
    // The unread rest of the body is discarded while the answer goes out and the connection closes.
    if (refusal.closeConnection) request.resume();
  }
}
