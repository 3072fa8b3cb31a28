import { Controller, Inject, Post, Res, UseFilters, UseGuards } from '@nestjs/common';
import { LICENSE_RELEASE_PATH } from '@license-ledger/protocol-exchange';
import { writeAnswer } from './license-http';
import { AddressRateLimitGuard, ClientAddress, LicenseBodyPipe, LicenseRefusal, LicenseRefusalFilter, NodeRequest } from './license-pipeline';
import { ReleaseService } from './release.service';

/**
 * POST /v1/license/release: a gateway process gives its lock back. The same pipeline as POST
 * /v1/license: the address's rate limit (guard), the raw body with its type and size limits (pipe),
 * the handler, and every refusal or failure through LicenseRefusalFilter.
 */
@Controller()
export class ReleaseController {
  constructor(@Inject(ReleaseService) private readonly releases: ReleaseService) {}

  @Post(LICENSE_RELEASE_PATH)
  @UseGuards(AddressRateLimitGuard)
  @UseFilters(LicenseRefusalFilter)
  async release(@NodeRequest(LicenseBodyPipe) body: Buffer, @ClientAddress() address: string, @Res() response: unknown): Promise<void> {
    const answer = await this.releases.handler.handleAdmitted(body, address);
    if (answer.status !== 200) throw new LicenseRefusal(answer);
    writeAnswer(response, answer);
  }
}
