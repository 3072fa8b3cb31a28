import { isLicensePath } from './license.controller';

describe('isLicensePath', () => {
  it('matches the license route as Express matched it', () => {
    for (const url of ['/v1/license', '/v1/license/', '/v1/license?x=1', '/V1/License']) expect([url, isLicensePath(url)]).toEqual([url, true]);
    for (const url of [undefined, '/', '/v1/licenses', '/v1/license/keys', '/v1/licens', '/v1/license//']) expect([url, isLicensePath(url)]).toEqual([url, false]);
  });
});
