import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Controller, Get, Header, NotFoundException, Param, Res } from '@nestjs/common';
import type { Response } from 'express';
import { DASHBOARD_CSS, DASHBOARD_HTML } from './dashboard-page';

/** What the page may load: its own code and uPlot, from this service only. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  readonly type: string;
  readonly body: string;
}

/** The page's assets, read once at start: its own ES modules beside this file, and uPlot's pinned dist files. */
function loadAssets(): ReadonlyMap<string, Asset> {
  const uplotDist = dirname(require.resolve('uplot'));
  const script = (path: string): Asset => ({ type: 'text/javascript; charset=utf-8', body: readFileSync(path, 'utf8') });
  const staticDir = join(__dirname, 'static');
  return new Map<string, Asset>([
    ['uPlot.iife.min.js', script(join(uplotDist, 'uPlot.iife.min.js'))],
    ['uPlot.min.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(uplotDist, 'uPlot.min.css'), 'utf8') }],
    ['dashboard.css', { type: 'text/css; charset=utf-8', body: DASHBOARD_CSS }],
    ...['app.js', 'api.js', 'signing.js', 'charts.js', 'view.js'].map((name): [string, Asset] => [name, script(join(staticDir, name))]),
  ]);
}

/**
 * GET /dashboard: the analysts' dashboard, a static page whose scripts call the signed /v1 API with
 * a key the analyst picks in the browser (the key never reaches this service). The page itself and
 * its assets are public: they hold no data.
 */
@Controller('dashboard')
export class DashboardController {
  private readonly assets = loadAssets();

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  @Header('Cache-Control', 'no-cache')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  page(): string {
    return DASHBOARD_HTML;
  }

  @Get('assets/:name')
  asset(@Param('name') name: string, @Res() response: Response): void {
    const asset = this.assets.get(name);
    if (!asset) throw new NotFoundException({ error: 404, message: 'Not found' });
    response.status(200).setHeader('content-type', asset.type).setHeader('cache-control', 'no-cache').setHeader('x-content-type-options', 'nosniff').end(asset.body);
  }
}
