// The analysts' dashboard: reads the view from the URL, signs every /v1 call with the analyst's
// key (signing.js) and draws usage, latency, the ledger's usage history and the gateways.
import { ApiError, getSigned } from './api.js';
import { clearCharts, dataTable, timeChart } from './charts.js';
import { forgetKey, importPrivateKey, keepKey, keptKey, KeyProblem } from './signing.js';
import { FILTERS, isoMinute, parseTime, readView, utcText, viewSearch } from './view.js';

const $ = (selector) => document.querySelector(selector);
const form = $('#filters');
const keyId = $('#key-id');
const keyStatus = $('#key-status');
const remember = $('#remember');
let view = readView(location.search, Date.now());
let credentials;
/** Counts loads: only the latest one may draw (an older answer arriving late is dropped). */
let loads = 0;

const setState = (state) => (document.body.dataset.state = state);

function showError(message) {
  $('#error').textContent = message;
  $('#error').hidden = false;
}

function fillForm() {
  form.elements.from.value = isoMinute(view.from);
  form.elements.to.value = isoMinute(view.to);
  form.elements.by.value = view.by;
  for (const name of FILTERS) form.elements[name].value = view[name];
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const from = parseTime(form.elements.from.value);
  const to = parseTime(form.elements.to.value);
  if (from === undefined || to === undefined || from >= to) {
    showError('From and To must be times (e.g. 2026-03-01T00:00Z, read as UTC) with From before To.');
    return;
  }
  view = { from, to, by: form.elements.by.value };
  for (const name of FILTERS) view[name] = form.elements[name].value.trim();
  history.pushState(null, '', viewSearch(view));
  void load();
});

addEventListener('popstate', () => {
  view = readView(location.search, Date.now());
  fillForm();
  void load();
});

$('#key-file').addEventListener('change', async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const key = await importPrivateKey(await file.arrayBuffer());
    credentials = { keyId: keyId.value.trim(), key };
    keyStatus.textContent = `key ${file.name} loaded`;
    if (remember.checked) await keepKey(credentials.keyId, key);
    await load();
  } catch (error) {
    credentials = undefined;
    keyStatus.textContent = 'no key';
    setState('error');
    showError(error instanceof KeyProblem ? error.message : `Cannot read the key: ${error.message ?? error}`);
  }
});

keyId.addEventListener('change', () => {
  if (!credentials || credentials.keyId === keyId.value.trim()) return;
  credentials = { ...credentials, keyId: keyId.value.trim() };
  if (remember.checked) void keepKey(credentials.keyId, credentials.key);
  void load();
});

remember.addEventListener('change', () => {
  if (remember.checked && credentials) void keepKey(credentials.keyId, credentials.key).then(() => (keyStatus.textContent = 'key kept in this browser'));
  if (!remember.checked) void forgetKey().then(() => (keyStatus.textContent = credentials ? 'key in this page only' : 'no key'));
});

$('#forget').addEventListener('click', async () => {
  await forgetKey();
  remember.checked = false;
  keyStatus.textContent = credentials ? 'kept key forgotten; still loaded in this page' : 'no key';
});

const seriesOf = (points, label, value) => ({ label, values: points.map(value) });
const timesOf = (points) => points.map((p) => Date.parse(p.start));
const quantile = (scale) => (q) => (q == null ? null : q.ns / scale);

function drawChart(id, points, series, yLabel, format, options) {
  const card = $(id);
  const times = timesOf(points);
  timeChart(card.querySelector('.plot'), times, series, yLabel, options);
  dataTable(card.querySelector('table.data'), times, series, format);
}

function drawLatency(id, points, which, scale, unit) {
  const series = ['p50', 'p90', 'p99'].map((q) => seriesOf(points, q, (p) => quantile(scale)(p[which][q])));
  // "≥" where the quantile fell into the +Inf bucket: the true value is at least that.
  const format = (value, s, i) => `${(points[i][which][s.label]?.overflow ? '≥' : '') + Number(value.toPrecision(4))}`;
  drawChart(id, points, series, unit, format, { log: true });
}

function drawAgreements(answer) {
  const grid = $('#agreements .grid');
  clearCharts(grid);
  if (answer.agreements.length === 0) grid.innerHTML = '<p class="empty">No agreement has usage history in this range.</p>';
  for (const { agreement, buckets } of answer.agreements) {
    const box = grid.appendChild(document.createElement('div'));
    box.dataset.agreement = agreement;
    box.appendChild(document.createElement('h3')).textContent = agreement;
    const plot = box.appendChild(document.createElement('div'));
    const details = box.appendChild(document.createElement('details'));
    details.appendChild(document.createElement('summary')).textContent = 'Data';
    const table = details.appendChild(document.createElement('table'));
    table.className = 'data';
    const series = [
      { ...seriesOf(buckets, 'peak locks', (b) => b.peakLocks), stepped: true },
      { ...seriesOf(buckets, 'licenses', (b) => b.licenses), stepped: true, dash: true },
      { ...seriesOf(buckets, 'denials', (b) => b.denials), bars: true, scale: 'right' },
    ];
    timeChart(plot, timesOf(buckets), series, 'locks');
    dataTable(table, timesOf(buckets), series);
  }
}

function drawGateways(answer) {
  const body = $('#gateways tbody');
  body.replaceChildren();
  for (const s of answer.sessions) {
    const row = body.insertRow();
    for (const cell of [s.hostname, s.package_name, s.package_version, s.api, s.agreement_id ?? '', utcText(Date.parse(s.first_seen)), utcText(Date.parse(s.last_seen)), String(s.restarts)]) {
      row.insertCell().textContent = cell;
    }
  }
  if (answer.sessions.length === 0) body.insertRow().insertCell().textContent = 'No gateway reported in this range.';
}

async function load() {
  if (!credentials) {
    setState('needs-key');
    keyStatus.textContent = 'pick your private key file to load the data';
    return;
  }
  if (!credentials.keyId) {
    setState('error');
    showError('Enter your key id (X-API-Key) first.');
    return;
  }
  const ticket = ++loads;
  setState('loading');
  $('#error').hidden = true;
  const range = { from: new Date(view.from).toISOString(), to: new Date(view.to).toISOString(), by: view.by };
  const filters = { agreement: view.agreement, package: view.package, api: view.api };
  try {
    // One call first: a wrong key then costs one failed attempt, not four.
    const usage = await getSigned(credentials, '/v1/usage/series', { ...range, ...filters });
    const [latency, licenses, gateways] = await Promise.all([
      getSigned(credentials, '/v1/latency/series', { ...range, ...filters }),
      getSigned(credentials, '/v1/licenses/usage', { ...range, agreement: view.agreement }),
      getSigned(credentials, '/v1/gateways', { from: range.from, to: range.to, ...filters }),
    ]);
    if (ticket !== loads) return;
    const points = usage.points;
    drawChart('#chart-activity', points, [seriesOf(points, 'gateways', (p) => Number(p.active_gateways)), seriesOf(points, 'sessions', (p) => Number(p.active_sessions))], 'active');
    drawChart('#chart-orders', points, Object.keys(points[0]?.order_actions ?? {}).map((name) => seriesOf(points, name.replaceAll('_', ' '), (p) => Number(p.order_actions[name]))), 'actions');
    drawLatency('#chart-internal', latency.points, 'internal', 1_000, 'µs');
    drawLatency('#chart-external', latency.points, 'external', 1_000_000, 'ms');
    drawAgreements(licenses);
    drawGateways(gateways);
    setState('ready');
  } catch (error) {
    if (ticket !== loads) return;
    setState('error');
    showError(error instanceof ApiError ? error.message : `Cannot load the data: ${error.message ?? error}`);
  }
}

async function start() {
  fillForm();
  try {
    const kept = await keptKey();
    if (kept) {
      credentials = { keyId: kept.keyId, key: kept.key };
      keyId.value = kept.keyId;
      remember.checked = true;
      keyStatus.textContent = 'using the key kept in this browser';
    }
  } catch {
    // No IndexedDB (private window): keys are then used for this page only.
  }
  await load();
}

void start();
