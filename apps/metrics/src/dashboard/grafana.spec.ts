import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

/*
 * The ops dashboard (ops/grafana) and its example alert rules query only metrics the services
 * export: every metric selector in them is a prom-client metric declared in apps/ or libs/, a
 * default process metric, or one of the few named external ones.
 */
const ROOT = path.resolve(__dirname, '../../../..');
const EXTERNAL = new Set(['up', 'kafka_consumergroup_lag', 'process_start_time_seconds']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name === 'generated' ? [] : sources(file);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [file] : [];
  });
}

function exportedMetrics(): Set<string> {
  const names = new Set<string>();
  for (const file of [...sources(path.join(ROOT, 'apps')), ...sources(path.join(ROOT, 'libs'))]) {
    for (const [, kind, name] of readFileSync(file, 'utf8').matchAll(/new (Counter|Gauge|Histogram)(?:<[^>]*>)?\(\{\s*name: '([a-z_:]+)'/g)) {
      if (!name) continue;
      names.add(name);
      if (kind === 'Histogram') for (const suffix of ['_bucket', '_count', '_sum']) names.add(name + suffix);
    }
  }
  return names;
}

/** Metric names in PromQL expressions: identifiers right before a label matcher or a range. */
const selectors = (expressions: readonly string[]): string[] => [...new Set(expressions.flatMap((e) => [...e.matchAll(/\b([a-z_][a-z0-9_]*)\s*[{[]/g)].map((m) => m[1] ?? '')))];

describe('ops/grafana', () => {
  const exported = exportedMetrics();

  it('charts only exported metrics', () => {
    const dashboard = JSON.parse(readFileSync(path.join(ROOT, 'ops/grafana/dashboards/license-ledger.json'), 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> };
    const used = selectors(dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr)));
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((name) => !exported.has(name) && !EXTERNAL.has(name))).toEqual([]);
  });

  it('alerts only on exported metrics', () => {
    const rules = readFileSync(path.join(ROOT, 'ops/grafana/alerts/license-ledger.rules.yml'), 'utf8');
    const expressions = [...rules.matchAll(/expr: (\|\n(?:\s{10}.*\n)+|.*)/g)].map((m) => m[1] ?? '');
    expect(expressions.length).toBeGreaterThanOrEqual(8);
    expect(selectors(expressions).filter((name) => !exported.has(name) && !EXTERNAL.has(name))).toEqual([]);
  });
});
