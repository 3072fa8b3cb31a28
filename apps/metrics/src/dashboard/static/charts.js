// Small helpers over uPlot (a global from uPlot.iife.min.js): time charts in UTC, and the data
// table under each chart (what the chart shows, readable without it).
import { utcText } from './view.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf'];
const charts = new Set();

addEventListener('resize', () => {
  for (const chart of charts) chart.setSize({ width: chart.root.parentElement.clientWidth, height: 220 });
});

/** Removes every chart inside `element` (before it is filled again). */
export function clearCharts(element) {
  for (const chart of [...charts]) {
    if (element.contains(chart.root)) {
      chart.destroy();
      charts.delete(chart);
    }
  }
  element.replaceChildren();
}

/** Axis labels in UTC, 24-hour: times within a day, the date where a day starts (or per day). */
function utcTicks(_u, splits, _axis, _space, increment) {
  return splits.map((seconds, i) => {
    const iso = new Date(seconds * 1000).toISOString();
    const date = iso.slice(5, 10);
    const time = iso.slice(11, 16);
    if (increment >= 86_400) return date;
    return i === 0 || time === '00:00' ? `${time}\n${date}` : time;
  });
}

/**
 * A time chart of `series` ({ label, values, bars?, stepped?, dash?, scale? }) over `times` (ms),
 * into `element`. Null values are gaps. `log`: a logarithmic y axis (latencies span decades).
 */
export function timeChart(element, times, series, yLabel, { log = false } = {}) {
  clearCharts(element);
  if (times.length === 0) {
    element.innerHTML = '<p class="empty">No data in this range.</p>';
    return;
  }
  const scales = { x: { time: true }, ...(log ? { y: { distr: 3, log: 10 } } : {}) };
  const axes = [{ values: utcTicks, size: 44 }, { label: yLabel, size: 56 }];
  if (series.some((s) => s.scale === 'right')) {
    scales.right = { range: (_u, _min, max) => [0, Math.max(1, max)] };
    axes.push({ scale: 'right', side: 1, label: series.find((s) => s.scale === 'right').label, grid: { show: false }, size: 48 });
  }
  const options = {
    width: Math.max(300, element.clientWidth),
    height: 220,
    tzDate: (seconds) => uPlot.tzDate(new Date(seconds * 1000), 'Etc/UTC'),
    scales,
    axes,
    series: [
      { label: 'UTC', value: (_u, seconds) => (seconds == null ? '–' : utcText(seconds * 1000)) },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: s.bars ? 1 : 1.5,
        ...(s.scale === 'right' ? { scale: 'right' } : {}),
        ...(s.dash ? { dash: [6, 4] } : {}),
        ...(s.bars ? { fill: `${COLORS[i % COLORS.length]}55`, paths: uPlot.paths.bars({ size: [0.5, 40] }) } : {}),
        ...(s.stepped ? { paths: uPlot.paths.stepped({ align: 1 }) } : {}),
      })),
    ],
  };
  const data = [times.map((ms) => ms / 1000), ...series.map((s) => s.values)];
  charts.add(new uPlot(options, data, element));
}

/** The data table under a chart: the bucket start and one column per series. */
export function dataTable(table, times, series, format = String) {
  const head = table.createTHead();
  head.replaceChildren();
  const titles = head.insertRow();
  for (const title of ['Start (UTC)', ...series.map((s) => s.label)]) titles.appendChild(document.createElement('th')).textContent = title;
  const body = table.tBodies[0] ?? table.createTBody();
  body.replaceChildren();
  times.forEach((ms, i) => {
    const row = body.insertRow();
    row.insertCell().textContent = utcText(ms);
    for (const s of series) row.insertCell().textContent = s.values[i] == null ? '–' : format(s.values[i], s, i);
  });
}
