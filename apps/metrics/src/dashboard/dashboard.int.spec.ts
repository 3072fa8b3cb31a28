import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { LeaseEvent } from '@license-ledger/lease-domain';
import { encodeJson } from '@license-ledger/lease-ledger';
import { cumulativeBuckets, sampleTelemetryRecord } from '@license-ledger/metrics-usage';
import { KafkaJsMessageBus } from '@license-ledger/platform-kafka';
import { createLogger } from '@license-ledger/platform-logging';
import { connectBusTransport } from '@license-ledger/platform-nest';
import { createTestTopics, eventually, integrationEnv, silentLogger } from '@license-ledger/platform-testing';
import { Browser, chromium, Page } from 'playwright-core';
import { createMetricsModule } from '../metrics.module';
import { createScratchDatabase, ScratchDatabase } from '../testing/scratch-database';
import { leaseEvents } from '../usage-history/lease-event-builders';

/*
 * The dashboard in a real headless browser (Debian's chromium, driven by playwright-core: no browser
 * download), against the metrics service on the real broker and database: seeded telemetry and
 * lease events, the analyst's key picked in the page, every chart's points and the gateways table
 * read back from the page, and the 401 a wrong key gets. Screenshots go to tmp/dashboard/.
 */

jest.setTimeout(120_000);
const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.resolve(__dirname, '../../../../tmp/dashboard');
const { brokers, databaseUrl } = integrationEnv();
const at = (hhmm: string): string => `2026-04-10T${hhmm}:00Z`;
const ns = (hhmm: string): string => (BigInt(Date.parse(at(hhmm))) * 1_000_000n).toString();
// The hand-computed case of docs/metrics-api.md: p50 1250 ns, p90 4000 ns, p99 10000 ns.
const INTERNAL_CASE = [10, 30, 40, 15, 4, 1, 0];

describe('GET /dashboard in headless chromium', () => {
  let db: ScratchDatabase;
  let app: INestApplication;
  let base: string;
  let browser: Browser;
  let topics: Record<'telemetry' | 'events' | 'dead', string>;
  const bus = new KafkaJsMessageBus({ clientId: 'dashboard-test', brokers, logger: silentLogger });
  const keyId = `analyst-${randomUUID().slice(0, 6)}`;
  // Throw-away test keys, outside the repository.
  const keys = mkdtempSync(path.join(tmpdir(), 'dashboard-keys-'));
  const keyFile = path.join(keys, 'analyst.pk8.pem');
  const wrongKeyFile = path.join(keys, 'wrong.pk8.pem');
  const view = `from=2026-04-10T08:00Z&to=2026-04-10T12:00Z&by=hour`;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: the dashboard test needs Debian's chromium (apt-get install -y chromium)`);
    mkdirSync(SHOTS, { recursive: true });
    const analyst = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(keyFile, analyst.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(wrongKeyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    db = await createScratchDatabase(databaseUrl);
    await db.query(`INSERT INTO metrics_api_key (key_id, owner, public_key_pem) VALUES ($1, 'analyst', $2)`, [keyId, analyst.publicKey.export({ type: 'spki', format: 'pem' })]);
    topics = await createTestTopics(brokers, 'test.dashboard', ['telemetry', 'events', 'dead'], 2);
    await bus.connect();
    await seed();
    const module = createMetricsModule(
      { service: 'metrics', instanceId: 'dashboard-test', logger: createLogger('metrics', 'error'), kafkaBrokers: brokers, databaseUrl: db.url, databasePoolSize: 4 },
      { consumerGroup: `test-dash-telemetry-${randomUUID().slice(0, 8)}`, topic: topics.telemetry, deadLetterTopic: topics.dead },
      { maxFailures: 50, windowMs: 60_000 },
      { consumerGroup: `test-dash-usage-${randomUUID().slice(0, 8)}`, topic: topics.events, deadLetterTopic: topics.dead },
    );
    app = await NestFactory.create(module, { logger: false });
    await connectBusTransport(app);
    await app.listen(0, '127.0.0.1');
    base = `http://127.0.0.1:${(app.getHttpServer().address() as { port: number }).port}`;
    await eventually('the telemetry stored and the lease events folded', 60_000, async () => {
      const [reports] = await db.query<{ n: string }>(`SELECT count(*) AS n FROM metrics_report`);
      const [folded] = await db.query<{ n: string | null }>(`SELECT sum(next_offset) AS n FROM usage_history_offset`);
      return reports?.n === '4' && folded?.n === String(leaseLog.length) ? true : undefined;
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await bus.close();
    await db?.drop();
    rmSync(keys, { recursive: true, force: true });
  });

  const acme = leaseEvents('acme');
  const beta = leaseEvents('beta');
  const leaseLog: LeaseEvent[] = [
    acme.opened(Date.parse(at('07:00')), 2),
    beta.opened(Date.parse(at('07:30')), 1),
    acme.granted(Date.parse(at('08:05')), 1, Date.parse(at('10:05'))),
    acme.granted(Date.parse(at('08:30')), 2, Date.parse(at('09:00'))),
    acme.expired(Date.parse(at('09:00')), 2),
    acme.denied(Date.parse(at('09:15'))),
    beta.granted(Date.parse(at('09:40')), 3, Date.parse(at('09:50'))),
    beta.denied(Date.parse(at('09:45'))),
    beta.denied(Date.parse(at('09:46'))),
    beta.expired(Date.parse(at('09:50')), 3),
    acme.expired(Date.parse(at('10:05')), 1),
  ];

  async function seed(): Promise<void> {
    const report = (overrides: Record<string, unknown>) => {
      const record = sampleTelemetryRecord({ nonce: randomBytes(16).toString('hex'), ...overrides });
      return { key: String(record['session_id']), value: Buffer.from(JSON.stringify(record)) };
    };
    const gwA = { session_id: 'dash-s1', hostname: 'gw-a', instance: 'prod-a', agreement_id: 'acme', package_name: 'fix-gateway', package_version: '3.14.2', api: 'fix44' };
    const gwB = { session_id: 'dash-s2', hostname: 'gw-b', instance: 'prod-b', agreement_id: 'beta', package_name: 'md-gateway', package_version: '1.2.0', api: 'itch' };
    await bus.publish(topics.telemetry, [
      report({ ...gwA, received_time_utc: ns('08:10'), create_order: 10, ...cumulativeBuckets('internal', INTERNAL_CASE, 1000) }),
      report({ ...gwA, received_time_utc: ns('09:20'), create_order: 25, ...cumulativeBuckets('internal', INTERNAL_CASE.map((n) => 2 * n), 2000) }),
      // A restart (new process): its values are the delta.
      report({ ...gwA, received_time_utc: ns('10:40'), create_order: 4, process_id: '5151' }),
      report({ ...gwB, received_time_utc: ns('09:30'), create_order: 7, ...cumulativeBuckets('external', [1, 2, 0, 0, 0, 0, 1], 30) }),
    ]);
    await bus.publish(topics.events, leaseLog.map((event) => ({ key: event.data.agreementId, value: encodeJson(event) })));
  }

  /** Opens the dashboard in a fresh browser context (its own IndexedDB), picks a key, waits for it to settle. */
  async function open(query: string, key: string, options: { keep?: boolean } = {}): Promise<Page> {
    const page = await (await browser.newContext({ viewport: { width: 1440, height: 900 } })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`${base}/dashboard?${query}`);
    await page.waitForSelector('body[data-state="needs-key"]');
    await page.fill('#key-id', keyId);
    if (options.keep) await page.check('#remember');
    await page.setInputFiles('#key-file', key);
    await page.waitForSelector('body[data-state="ready"], body[data-state="error"]');
    expect(errors).toEqual([]);
    return page;
  }

  /** The rows of a chart's data table (or of `table.rows`), as text. */
  const table = (page: Page, selector: string): Promise<string[][]> =>
    page.$$eval(`${selector} table.data tbody tr, ${selector} table.rows tbody tr`, (rows) => rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent ?? '')));

  it('draws every chart with the expected points and lists the gateways', async () => {
    const page = await open(view, keyFile);
    expect(await page.getAttribute('body', 'data-state')).toBe('ready');
    expect(await page.isHidden('#error')).toBe(true);
    const hours = ['2026-04-10 08:00', '2026-04-10 09:00', '2026-04-10 10:00', '2026-04-10 11:00'];
    expect(await table(page, '#chart-activity')).toEqual([
      [hours[0], '1', '1'],
      [hours[1], '2', '2'],
      [hours[2], '1', '1'],
      [hours[3], '0', '0'],
    ]);
    // Order actions: create, modify, cancel, cancel all, mass quote, cancel quotes.
    expect((await table(page, '#chart-orders')).map((row) => row.slice(0, 2))).toEqual([
      [hours[0], '10'],
      [hours[1], '22'],
      [hours[2], '4'],
      [hours[3], '0'],
    ]);
    expect(await table(page, '#chart-internal')).toEqual([
      [hours[0], '1.25', '4', '10'],
      [hours[1], '1.25', '4', '10'],
      [hours[2], '–', '–', '–'],
      [hours[3], '–', '–', '–'],
    ]);
    // External in ms: p50 55 µs; p90 and p99 in the +Inf bucket (at least 1 s).
    expect(await table(page, '#chart-external')).toEqual([
      [hours[0], '–', '–', '–'],
      [hours[1], '0.055', '≥1000', '≥1000'],
      [hours[2], '–', '–', '–'],
      [hours[3], '–', '–', '–'],
    ]);
    // Per agreement: peak locks, licenses, denials.
    expect(await page.$$eval('#agreements [data-agreement]', (boxes) => boxes.map((box) => box.getAttribute('data-agreement')))).toEqual(['acme', 'beta']);
    expect(await table(page, '#agreements [data-agreement="acme"]')).toEqual([
      [hours[0], '2', '2', '0'],
      [hours[1], '1', '2', '1'],
      [hours[2], '1', '2', '0'],
      [hours[3], '0', '2', '0'],
    ]);
    expect(await table(page, '#agreements [data-agreement="beta"]')).toEqual([
      [hours[0], '0', '1', '0'],
      [hours[1], '1', '1', '2'],
      [hours[2], '0', '1', '0'],
      [hours[3], '0', '1', '0'],
    ]);
    expect(await table(page, '#gateways')).toEqual([
      ['gw-a', 'fix-gateway', '3.14.2', 'fix44', 'acme', '2026-04-10 08:10', '2026-04-10 10:40', '1'],
      ['gw-b', 'md-gateway', '1.2.0', 'itch', 'beta', '2026-04-10 09:30', '2026-04-10 09:30', '0'],
    ]);
    // Every chart is drawn (a uPlot canvas each: 4 charts and one per agreement).
    expect(await page.locator('.plot canvas, [data-agreement] canvas').count()).toBe(6);
    await page.screenshot({ path: path.join(SHOTS, 'dashboard.png'), fullPage: true });
    await page.context().close();
  });

  it('takes the range and filters from the URL, and writes the form back into it', async () => {
    const page = await open(`${view}&agreement=acme`, keyFile);
    expect(await page.inputValue('input[name="agreement"]')).toBe('acme');
    expect(await page.$$eval('#agreements [data-agreement]', (boxes) => boxes.map((box) => box.getAttribute('data-agreement')))).toEqual(['acme']);
    expect((await table(page, '#gateways')).map((row) => row[0])).toEqual(['gw-a']);
    await page.selectOption('select[name="by"]', 'day');
    await page.click('#filters button[type="submit"]');
    await page.waitForFunction(() => {
      const browser = globalThis as unknown as { document: { body: { dataset: { state?: string } } }; location: { search: string } };
      return browser.document.body.dataset.state === 'ready' && browser.location.search.includes('by=day');
    });
    expect(new URL(page.url()).search).toBe('?from=2026-04-10T08%3A00Z&to=2026-04-10T12%3A00Z&by=day&agreement=acme');
    expect(await table(page, '#agreements [data-agreement="acme"]')).toEqual([['2026-04-10 00:00', '2', '2', '1']]);
    await page.context().close();
  });

  it('keeps the key, on request, as a non-extractable key in IndexedDB', async () => {
    const page = await open(view, keyFile, { keep: true });
    await page.reload();
    await page.waitForSelector('body[data-state="ready"]');
    expect(await page.inputValue('#key-id')).toBe(keyId);
    // Read back in the page: the kept record's CryptoKey (a string, evaluated in the browser).
    const kept = await page.evaluate<{ extractable: boolean; type: string; usages: string[] }>(`new Promise((resolve, reject) => {
      const request = indexedDB.open('license-ledger-dashboard');
      request.onsuccess = () => {
        const get = request.result.transaction('keys').objectStore('keys').get('analyst');
        get.onsuccess = () => resolve({ extractable: get.result.key.extractable, type: get.result.key.type, usages: get.result.key.usages });
        get.onerror = () => reject(get.error);
      };
      request.onerror = () => reject(request.error);
    })`);
    expect(kept).toEqual({ extractable: false, type: 'private', usages: ['sign'] });
    await page.click('#forget');
    await page.waitForSelector('#key-status:has-text("forgotten")');
    await page.reload();
    await page.waitForSelector('body[data-state="needs-key"]');
    await page.context().close();
  });

  it('shows the 401 plainly when the key is not the registered one', async () => {
    const page = await open(view, wrongKeyFile);
    expect(await page.getAttribute('body', 'data-state')).toBe('error');
    const message = await page.textContent('#error');
    expect(message).toContain('401 Unauthorized');
    expect(message).toContain('{"error":401,"message":"Unauthorized"}');
    await page.screenshot({ path: path.join(SHOTS, 'wrong-key.png'), fullPage: true });
    await page.context().close();
  });

  it('serves the page with a strict content security policy, and uPlot from the service itself', async () => {
    const response = await fetch(`${base}/dashboard`);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await response.text();
    expect(html).not.toMatch(/https?:\/\//);
    const uplot = await fetch(`${base}/dashboard/assets/uPlot.iife.min.js`);
    expect(uplot.status).toBe(200);
    expect(uplot.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${base}/dashboard/assets/nothing.js`)).status).toBe(404);
  });
});
