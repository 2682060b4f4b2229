import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startGateway, type TestGateway } from '../helpers/gateways/gateway.js';
import { requireBinary } from '../helpers/peers/services.js';
import { runChild } from '../helpers/processes.js';

// The names /metrics exposes, checked against the Prometheus naming rules, promtool's linter and
// the shipped Grafana dashboard, whose every PromQL name must be one the gateway registers.

const DASHBOARD = join(import.meta.dirname, '../../deploy/grafana/gatehouse-dashboard.json');
const tokenDir = mkdtempSync(join(tmpdir(), 'gatehouse-metrics-'));
const METRICS_TOKEN = randomBytes(24).toString('base64url');
const METRICS_TOKEN_FILE = join(tokenDir, 'token');
writeFileSync(METRICS_TOKEN_FILE, `${METRICS_TOKEN}\n`, { mode: 0o600 });

interface Family {
  type: string;
  help: string;
}

/** Metric families from the `# HELP` and `# TYPE` lines of a scrape. */
function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (!m) continue;
    const family = out.get(m[2]) ?? { type: '', help: '' };
    if (m[1] === 'TYPE') {
      assert.equal(family.type, '', `${m[2]} is declared once`);
      family.type = m[3];
    } else family.help = m[3];
    out.set(m[2], family);
  }
  return out;
}

// PromQL words that are not metric names; anything else before a `(` fails the test, so the
// extraction below cannot mistake a name it does not understand.
const FUNCTIONS = new Set(['sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk', 'rate', 'irate', 'increase', 'histogram_quantile', 'label_values']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);

/** The metric names a PromQL expression (with Grafana variables) reads. */
function promqlNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\$\{[^}]*\}|\$\w+/g, ' ');
  // label_values(metric, label): the second argument is a label.
  const withoutLabelArg = bare.replace(/\blabel_values\s*\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)/g, 'label_values($1)');
  const names: string[] = [];
  for (const m of withoutLabelArg.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?/g)) {
    if (m[2]) assert.ok(FUNCTIONS.has(m[1]), `${m[1]}( in ${JSON.stringify(expr)} is a known PromQL function`);
    else if (!KEYWORDS.has(m[1])) names.push(m[1]);
  }
  return names;
}

interface Panel {
  id: number;
  title?: string;
  type: string;
  datasource?: { uid: string };
  panels?: Panel[];
  targets?: { expr: string }[];
}
interface Dashboard {
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

function dashboardQueries(dashboard: Dashboard): { where: string; expr: string }[] {
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const fromPanels = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}"`, expr: t.expr })));
  const fromVariables = dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ where: `variable $${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query.query }));
  return [...fromPanels, ...fromVariables];
}

/** The family a sample name belongs to: histograms add _bucket/_sum/_count, OpenMetrics counters _total. */
function familyOf(name: string, known: Map<string, Family>): string | undefined {
  if (known.has(name)) return name;
  const histogram = /^(.+)_(bucket|sum|count)$/.exec(name);
  if (histogram && known.get(histogram[1])?.type === 'histogram') return histogram[1];
  const counter = /^(.+)_total$/.exec(name);
  if (counter && known.get(counter[1])?.type === 'counter') return counter[1];
  return undefined;
}

// Prometheus naming rules (https://prometheus.io/docs/practices/naming/) for the metrics Gatehouse
// defines; prom-client's process_* and nodejs_* keep their standard names, so stock dashboards work.
const NON_BASE_UNITS = /_(milliseconds|millis|ms|microseconds|us|nanoseconds|ns|minutes|hours|days|kilobytes|kb|megabytes|mb|gigabytes|gb|bits|percent)(_|$)/;
function namingProblems(name: string, family: Family): string[] {
  const problems: string[] = [];
  if (!/^[a-z][a-z0-9_]*$/.test(name)) problems.push('is not snake_case');
  if (!family.help.trim()) problems.push('has no HELP');
  if (!name.startsWith('gatehouse_')) return problems;
  if ((family.type === 'counter') !== name.endsWith('_total')) problems.push('must end in _total exactly when it is a counter');
  if (NON_BASE_UNITS.test(name)) problems.push('names a unit that is not a base unit (seconds, bytes)');
  if (family.type === 'histogram' && !/_(seconds|bytes)$/.test(name)) problems.push('is a histogram without its base unit (_seconds, _bytes)');
  if (name.endsWith('_seconds') && family.type === 'histogram' && !name.endsWith('_duration_seconds')) problems.push('times something: *_duration_seconds');
  if (family.type !== 'histogram' && family.type !== 'summary' && /_(bucket|sum|count)$/.test(name)) problems.push('ends in a suffix reserved for histograms');
  return problems;
}

describe('metric names: rules, promtool, Grafana dashboard', () => {
  let gw: TestGateway;
  let text: string;
  let known: Map<string, Family>;
  before(async () => {
    gw = await startGateway({ server: { metrics_bearer_token_file: METRICS_TOKEN_FILE }, connectors: [{ type: 'demo' }] });
    // Give the labelled series samples, so promtool lints sample lines too.
    await fetch(`${gw.url}/login/nope`);
    gw.gateway.metrics.proxyRequest.observe({ kind: 'app', target: 'wiki', code: '200' }, 0.012);
    const res = await fetch(`${gw.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(res.status, 200);
    text = await res.text();
    known = families(text);
  });
  after(async () => {
    await gw.stop();
    rmSync(tokenDir, { recursive: true, force: true });
  });

  test('every metric follows the naming rules; the Node and process defaults keep their standard names', () => {
    const problems = [...known].flatMap(([name, family]) => namingProblems(name, family).map((p) => `${name} ${p}`));
    assert.deepEqual(problems, []);
    for (const name of known.keys()) assert.match(name, /^(gatehouse|process|nodejs)_/, `${name} has a known prefix`);
    assert.ok(![...known.keys()].some((n) => /^gatehouse_(process|nodejs)_/.test(n)), 'the defaults are not prefixed');
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
      assert.ok(known.has(name), `${name} is exposed under its standard name`);
    }
    assert.equal(known.get('gatehouse_proxy_request_duration_seconds')?.type, 'histogram');
    assert.equal(known.get('gatehouse_audit_write_duration_seconds')?.type, 'histogram');
  });

  test('promtool check metrics finds nothing wrong with the metrics Gatehouse defines', async (t) => {
    const promtool = requireBinary(t, 'promtool');
    if (!promtool) return;
    const run = await runChild(promtool, ['check', 'metrics'], { input: text, timeoutMs: 30_000 });
    // Exit 0: clean; 3: lint problems, one per line, "<metric> <problem>".
    assert.ok(run.code === 0 || run.code === 3, `promtool exited ${run.code}: ${run.stderr}`);
    const problems = `${run.stdout}\n${run.stderr}`.split('\n').filter((l) => l.trim());
    // prom-client's nodejs_active_*_total gauges break the _total rule; they are the standard
    // names every Node.js dashboard uses, so they stay.
    const ours = problems.filter((l) => !/^nodejs_active_(handles|requests|resources)_total non-counter metrics should not have "_total" suffix$/.test(l));
    assert.deepEqual(ours, []);
  });

  test('every metric the Grafana dashboard queries is one the gateway registers, and it shows all of ours', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    assert.equal(new Set(dashboard.panels.map((p) => p.id)).size, dashboard.panels.length, 'panel ids are unique');
    // Every panel reads the data source picked in the dashboard's variable, so an import works anywhere.
    for (const p of panels) assert.equal(p.datasource?.uid, '${datasource}', `panel "${p.title}" uses $datasource`);
    const queries = dashboardQueries(dashboard);
    assert.ok(queries.length >= 10, 'the dashboard has queries');
    const used = new Set<string>();
    for (const { where, expr } of queries) {
      const names = promqlNames(expr);
      assert.ok(names.length > 0, `${where}: ${expr} reads a metric`);
      for (const name of names) {
        const family = familyOf(name, known);
        assert.ok(family, `${where}: ${name} is registered by the gateway`);
        used.add(family);
      }
    }
    const unshown = [...known.keys()].filter((n) => n.startsWith('gatehouse_') && !used.has(n));
    assert.deepEqual(unshown, [], 'each Gatehouse metric has a panel');
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds']) assert.ok(used.has(name), name);
  });

  test('the name extraction reads names, not functions, labels or variables', () => {
    assert.deepEqual(
      promqlNames('histogram_quantile(0.99, sum by (kind, le) (rate(a_seconds_bucket{job=~"$job", code=~"5.."}[$__rate_interval]))) / on(kind) b_total'),
      ['a_seconds_bucket', 'b_total'],
    );
    assert.deepEqual(promqlNames('label_values(c_total{job=~"$job"}, instance)'), ['c_total']);
    assert.deepEqual(promqlNames('60 * sum(rate(d_total[5m])) by (x)'), ['d_total']);
    assert.equal(familyOf('e_seconds_bucket', new Map([['e_seconds', { type: 'histogram', help: 'h' }]])), 'e_seconds');
    assert.equal(familyOf('e_seconds_bucket', new Map([['e_seconds', { type: 'gauge', help: 'h' }]])), undefined);
  });
});
