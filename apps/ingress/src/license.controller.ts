import { Controller, Get, Header, Inject, Post, Res, UseFilters, UseGuards } from '@nestjs/common';
import { LICENSE_KEYS_PATH, LICENSE_PATH, type ServerKeysDocument } from '@license-ledger/protocol-exchange';
import { writeAnswer } from './license-http';
import { AddressRateLimitGuard, ClientAddress, LicenseBodyPipe, LicenseRefusal, LicenseRefusalFilter, NodeRequest } from './license-pipeline';
import { LicenseService } from './license.service';
import { openApiDocument } from './openapi';

export { isLicensePath, readBody } from './license-http';

/**
 * The gateways' endpoints and the OpenAPI document. POST /v1/license goes through Nest's pipeline:
 * the address's rate limit (guard), the raw body with its size limit (pipe), the handler, and every
 * refusal or failure through LicenseRefusalFilter.
 */
@Controller()
export class LicenseController {
  private readonly openApi: string;

  constructor(@Inject(LicenseService) private readonly license: LicenseService) {
    this.openApi = JSON.stringify(openApiDocument(license.options.maxBodyBytes));
  }

  @Post(LICENSE_PATH)
  @UseGuards(AddressRateLimitGuard)
  @UseFilters(LicenseRefusalFilter)
  async obtain(@NodeRequest(LicenseBodyPipe) body: Buffer, @ClientAddress() address: string, @Res() response: unknown): Promise<void> {
    const answer = await this.license.handler.handleAdmitted(body, address);
    if (answer.status !== 200) throw new LicenseRefusal(answer);
    // Written here, not returned: Nest would send a Buffer as JSON through Express.
    writeAnswer(response, answer);
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
