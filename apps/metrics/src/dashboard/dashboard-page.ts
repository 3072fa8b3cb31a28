/*
 * The dashboard's page and style sheet. Scripts are ES modules in ./static (plain JavaScript, no
 * build step); uPlot comes from the pinned npm package. Everything is served by the metrics service.
 */

const chart = (id: string, title: string, note = ''): string => `
    <section class="card" id="${id}">
      <h2>${title}</h2>${note ? `\n      <p class="note">${note}</p>` : ''}
      <div class="plot"></div>
      <details><summary>Data</summary><table class="data"></table></details>
    </section>`;

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>License Ledger — usage dashboard</title>
  <link rel="stylesheet" href="dashboard/assets/uPlot.min.css">
  <link rel="stylesheet" href="dashboard/assets/dashboard.css">
  <script src="dashboard/assets/uPlot.iife.min.js"></script>
  <script type="module" src="dashboard/assets/app.js"></script>
</head>
<body data-state="starting">
  <header>
    <h1>License Ledger <span>usage dashboard · all times UTC</span></h1>
    <form id="filters" autocomplete="off">
      <label>From <input name="from" placeholder="2026-03-01T00:00Z" size="18" required></label>
      <label>To <input name="to" placeholder="2026-03-02T00:00Z" size="18" required></label>
      <label>Per <select name="by"><option value="hour">hour</option><option value="day">day</option></select></label>
      <label>Agreement <input name="agreement" size="12"></label>
      <label>Package <input name="package" size="12"></label>
      <label>API <input name="api" size="8"></label>
      <button type="submit">Show</button>
    </form>
  </header>
  <section id="key-panel" aria-label="Signing key">
    <label>Key id <input id="key-id" size="24" autocomplete="off" spellcheck="false"></label>
    <label>Private key <input type="file" id="key-file" accept=".pem,.key,.pk8,.der"></label>
    <label class="check"><input type="checkbox" id="remember"> keep in this browser</label>
    <button type="button" id="forget">Forget kept key</button>
    <span id="key-status" role="status"></span>
    <p class="note">The key (PKCS#8, e.g. <code>openssl pkcs8 -topk8 -nocrypt -in analyst.key -out analyst.pk8.pem</code>) is read by this page and never sent anywhere: every API request is signed here. Kept keys are stored as non-extractable keys in this browser's IndexedDB.</p>
  </section>
  <p id="error" role="alert" hidden></p>
  <main>${chart('chart-activity', 'Active gateways and sessions')}${chart('chart-orders', 'Order actions')}${chart(
    'chart-internal',
    'Internal latency (µs)',
    'p50, p90, p99 estimated from the stored histograms',
  )}${chart('chart-external', 'External latency (ms)', 'p50, p90, p99 estimated from the stored histograms')}
    <section class="card wide" id="agreements">
      <h2>Concurrent locks beside licenses, and denials, per agreement</h2>
      <p class="note">From the ledger's usage history: the package and API filters do not apply here.</p>
      <div class="grid"></div>
    </section>
    <section class="card wide" id="gateways">
      <h2>Gateways</h2>
      <table class="rows">
        <thead><tr><th>Host</th><th>Package</th><th>Version</th><th>API</th><th>Agreement</th><th>First seen</th><th>Last seen</th><th>Restarts</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>
  </main>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root { font: 14px/1.4 system-ui, sans-serif; color: #1d2430; background: #f4f5f7; }
body { margin: 0; }
header { background: #1d2430; color: #fff; padding: 8px 16px; display: flex; flex-wrap: wrap; align-items: center; gap: 8px 24px; }
h1 { font-size: 18px; margin: 0; }
h1 span { font-weight: normal; font-size: 13px; opacity: .75; }
h2 { font-size: 15px; margin: 0 0 4px; }
form#filters { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: center; }
label { display: inline-flex; gap: 4px; align-items: center; }
input, select, button { font: inherit; }
#key-panel { padding: 8px 16px; background: #fff; border-bottom: 1px solid #d5d9e0; display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: center; }
#key-panel .note { flex-basis: 100%; margin: 0; }
.note { color: #5b6472; font-size: 12px; margin: 0 0 6px; }
#key-status { font-weight: 600; }
#error { margin: 8px 16px; padding: 8px 12px; background: #fde8e8; border: 1px solid #e0a0a0; color: #8a1010; white-space: pre-wrap; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 12px; padding: 12px 16px; }
.card { background: #fff; border: 1px solid #d5d9e0; border-radius: 6px; padding: 10px 12px; min-width: 0; }
.card.wide { grid-column: 1 / -1; }
#agreements .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 12px; }
#agreements h3 { font-size: 14px; margin: 6px 0 2px; }
details { margin-top: 4px; font-size: 12px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 2px 10px 2px 0; border-bottom: 1px solid #eceef2; white-space: nowrap; }
table.rows { width: 100%; }
.plot { min-height: 220px; }
.empty { color: #5b6472; font-style: italic; }
`;
