// The metric names the Grafana dashboard in docs/ queries, so the tests can hold the dashboard to the scrape.
import fs from 'node:fs';

export function dashboardMetricNames(): string[] {
  const dashboard = fs.readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8');
  return [...new Set([...dashboard.matchAll(/\bporthole_[a-z0-9_]+/g)].map((m) => m[0]))];
}
