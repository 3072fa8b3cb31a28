// The dashboard's view (range, bucket size, filters) lives in the URL, so a view can be shared.

const HOUR = 3_600_000;
const SPAN = { hour: 24 * HOUR, day: 30 * 24 * HOUR };
export const FILTERS = ['agreement', 'package', 'api'];

/** "2026-03-01", "2026-03-01T10:00" (both read as UTC) or a full ISO time with a zone; else undefined. */
export function parseTime(text) {
  if (!text) return undefined;
  const trimmed = text.trim();
  const utc = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(trimmed) ? `${trimmed.length === 10 ? `${trimmed}T00:00` : trimmed}Z` : trimmed;
  const ms = Date.parse(utc);
  return Number.isNaN(ms) ? undefined : ms;
}

/** "2026-03-01T10:00Z": short, unambiguous, and what the URL shows. */
export const isoMinute = (ms) => `${new Date(ms).toISOString().slice(0, 16)}Z`;
/** "2026-03-01 10:00" for tables (every time on the page is UTC). */
export const utcText = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');

export function readView(search, nowMs) {
  const params = new URLSearchParams(search);
  const by = params.get('by') === 'day' ? 'day' : 'hour';
  const to = parseTime(params.get('to')) ?? Math.ceil(nowMs / HOUR) * HOUR;
  const from = parseTime(params.get('from')) ?? to - SPAN[by];
  const view = { from, to, by };
  for (const name of FILTERS) view[name] = (params.get(name) ?? '').trim();
  return view;
}

export function viewSearch(view) {
  const params = new URLSearchParams({ from: isoMinute(view.from), to: isoMinute(view.to), by: view.by });
  for (const name of FILTERS) if (view[name]) params.set(name, view[name]);
  return `?${params}`;
}
