/**
 * Deployment artefacts of issue #6: Dockerfile, docker-compose.yml, deploy/ (Prometheus, alert rules,
 * Grafana) and k8s/ (kustomize base, components, dev overlay).
 *
 * No cluster and no Docker engine are needed. Kustomize output comes from `kustomize build` or
 * `kubectl kustomize` when either is installed, otherwise from a small built-in builder that
 * implements exactly the kustomize features k8s/ uses (COSTWATCH_KUSTOMIZE=builtin forces it; when a
 * real tool exists the two outputs are compared). promtool and docker compose checks run when the
 * tool is installed and are skipped with a message otherwise (`npm test` installs promtool).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify as stringifyYaml } from 'yaml';
import { envSchema, parseConfig } from '../lib/config.js';
import { registry } from '../lib/metrics.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repoPath = (...parts: string[]): string => path.join(root, ...parts);
const readText = (...parts: string[]): string => readFileSync(repoPath(...parts), 'utf8');

// ---- JSON helpers (no `any`) ------------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Obj = { [key: string]: Json };

function isObj(value: Json | undefined): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows a dotted path ("spec.template.spec") through objects; undefined when any step is missing. */
function at(value: Json | undefined, dotted: string): Json | undefined {
  let current: Json | undefined = value;
  for (const key of dotted.split('.')) {
    if (!isObj(current)) return undefined;
    current = current[key];
  }
  return current;
}

function obj(value: Json | undefined, what: string): Obj {
  assert.ok(isObj(value), `${what}: expected an object, got ${JSON.stringify(value)}`);
  return value;
}

function arr(value: Json | undefined, what: string): Json[] {
  assert.ok(Array.isArray(value), `${what}: expected a list, got ${JSON.stringify(value)}`);
  return value;
}

function str(value: Json | undefined, what: string): string {
  assert.equal(typeof value, 'string', `${what}: expected a string, got ${JSON.stringify(value)}`);
  return value as string;
}

function objs(value: Json | undefined, what: string): Obj[] {
  return arr(value, what).map((item, i) => obj(item, `${what}[${i}]`));
}

function strMap(value: Json | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObj(value)) return out;
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

function toJson(value: unknown): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

function parseYamlDocs(text: string, what: string): Obj[] {
  const out: Obj[] = [];
  for (const doc of parseAllDocuments(text, { merge: true })) {
    assert.equal(doc.errors.length, 0, `${what}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = toJson(doc.toJS({ maxAliasCount: -1 }) ?? null);
    if (value === null) continue;
    out.push(obj(value, what));
  }
  return out;
}

function parseYamlFile(...parts: string[]): Obj {
  const docs = parseYamlDocs(readText(...parts), parts.join('/'));
  assert.equal(docs.length, 1, `${parts.join('/')}: expected one YAML document`);
  return docs[0]!;
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

function run(
  cmd: string,
  args: string[],
  cwd = root,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

// ---- the application contract -----------------------------------------------------------------

/** Metric names of the deployment contract (issue #6); lib/metrics.ts must register every one. */
const CONTRACT_METRICS = [
  'http_requests_total',
  'http_request_duration_seconds',
  'costwatch_jobs_total',
  'costwatch_job_duration_seconds',
  'costwatch_queue_jobs',
  'costwatch_aws_requests_total',
  'costwatch_aws_throttles_total',
  'costwatch_aws_errors_total',
  'costwatch_aws_estimated_cost_dollars_total',
  'costwatch_rows_loaded_total',
  'costwatch_last_successful_refresh_age_seconds',
  'costwatch_organizations',
  'costwatch_alerts_fired_total',
  'costwatch_notifications_total',
  'costwatch_notifications_undelivered',
];

const REQUIRED_ALERTS = [
  'HighErrorRate',
  'QueueBacklog',
  'StaleRefresh',
  'AwsThrottling',
  'JobFailures',
  'ApiDown',
  'WorkerDown',
  'HighMemory',
  'NotificationsFailing',
  'NotificationsUndelivered',
];

const ROLE_PORTS: Record<string, number> = { 'api-gateway': 8002, scheduler: 9464, worker: 9464 };
/** Where each role serves /metrics (the api on API_METRICS_PORT since issue 12). */
const METRICS_PORTS: Record<string, number> = { 'api-gateway': 9464, scheduler: 9464, worker: 9464 };

/** Environment variables the AWS SDK (not lib/config.ts) reads, plus Node's own. */
const NON_CONFIG_ENV = new Set([
  'NODE_ENV',
  'NODE_OPTIONS',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_DEFAULT_REGION',
  'AWS_STS_REGIONAL_ENDPOINTS',
]);
const CONFIG_ENV = new Set(Object.keys(envSchema.shape));
const isKnownEnv = (name: string): boolean => CONFIG_ENV.has(name) || NON_CONFIG_ENV.has(name);

interface KnownMetrics {
  names: Set<string>;
  histograms: Set<string>;
}

async function knownMetrics(): Promise<KnownMetrics> {
  const names = new Set<string>(['up']);
  const histograms = new Set<string>();
  for (const metric of await registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') histograms.add(metric.name);
  }
  return { names, histograms };
}

function isKnownMetric(name: string, known: KnownMetrics): boolean {
  if (known.names.has(name)) return true;
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return base !== name && known.histograms.has(base);
}

const PROMQL_KEYWORDS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'group',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'inf',
  'nan',
]);

/** Metric names selected by a PromQL expression (strings, matchers, ranges and groupings removed). */
function promqlMetricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names: string[] = [];
  for (const match of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = match[0];
    const rest = s.slice((match.index ?? 0) + word.length).trimStart();
    if (rest.startsWith('(')) continue;
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    names.push(word);
  }
  return names;
}

// ---- alert rules: one source, the PrometheusRule ----------------------------------------------

const ALERTS_SOURCE = ['deploy', 'prometheus', 'costwatch-alerts.prometheusrule.yaml'];

/**
 * The plain Prometheus rule file inside the PrometheusRule, extracted exactly as docker-compose.yml
 * does it: `sed -n '/^spec:/,$p' | sed '1d;s/^  //'`.
 */
function extractRuleFile(source: string): string {
  const lines = source.split('\n');
  const start = lines.findIndex((line) => /^spec:/.test(line));
  assert.ok(start >= 0, 'PrometheusRule has no top-level spec:');
  return lines
    .slice(start + 1)
    .map((line) => line.replace(/^ {2}/, ''))
    .join('\n');
}

interface AlertRule {
  alert: string;
  expr: string;
  rule: Obj;
}

function alertRules(ruleFile: Obj): AlertRule[] {
  const out: AlertRule[] = [];
  for (const group of objs(ruleFile.groups, 'groups')) {
    for (const rule of objs(group.rules, `group ${String(group.name)} rules`)) {
      if (typeof rule.alert !== 'string') continue;
      out.push({ alert: rule.alert, expr: str(rule.expr, `${rule.alert}.expr`), rule });
    }
  }
  return out;
}

// ---- kustomize -------------------------------------------------------------------------------

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'APIService',
]);

const kindOf = (r: Obj): string => str(r.kind, 'kind');
const nameOf = (r: Obj): string => str(at(r, 'metadata.name'), `${String(r.kind)} metadata.name`);
const keyOf = (r: Obj): string => `${kindOf(r)}/${String(at(r, 'metadata.namespace') ?? '')}/${nameOf(r)}`;

function readKustomization(dir: string): Obj {
  for (const name of ['kustomization.yaml', 'kustomization.yml', 'Kustomization']) {
    const file = path.join(dir, name);
    if (existsSync(file)) return parseYamlDocs(readFileSync(file, 'utf8'), file)[0] ?? {};
  }
  throw new Error(`${dir}: no kustomization.yaml`);
}

function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObj(value)) return value;
  const out: Obj = {};
  for (const [k, v] of Object.entries(value)) if (!k.startsWith('$')) out[k] = stripDirectives(v);
  return out;
}

/** Strategic merge for the shapes k8s/ patches: maps merge, lists of named items merge by name. */
function strategicMerge(base: Json, patch: Json): Json {
  if (isObj(base) && isObj(patch)) {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (k.startsWith('$')) continue;
      if (v === null) delete out[k];
      else out[k] = k in base ? strategicMerge(base[k] ?? null, v) : stripDirectives(v);
    }
    return out;
  }
  const named = (list: Json[]): boolean => list.every((item) => isObj(item) && typeof item.name === 'string');
  if (Array.isArray(base) && Array.isArray(patch) && named(base) && named(patch)) {
    const out = [...base];
    for (const item of patch) {
      const i = out.findIndex((b) => isObj(b) && isObj(item) && b.name === item.name);
      if (i >= 0) out[i] = strategicMerge(out[i] ?? null, item);
      else out.push(stripDirectives(item));
    }
    return out;
  }
  return stripDirectives(patch);
}

function matchesTarget(r: Obj, target: Obj): boolean {
  if (typeof target.kind === 'string' && target.kind !== kindOf(r)) return false;
  if (typeof target.name === 'string' && target.name !== nameOf(r)) return false;
  if (typeof target.namespace === 'string' && target.namespace !== at(r, 'metadata.namespace')) return false;
  return true;
}

function applyPatches(resources: Obj[], patches: Json | undefined, dir: string): Obj[] {
  let out = resources;
  for (const entry of objs(patches ?? [], `${dir} patches`)) {
    const text =
      typeof entry.path === 'string'
        ? readFileSync(path.join(dir, entry.path), 'utf8')
        : str(entry.patch, 'patch');
    for (const patch of parseYamlDocs(text, `${dir} patch`)) {
      const target = isObj(entry.target)
        ? entry.target
        : { kind: patch.kind ?? null, name: at(patch, 'metadata.name') ?? null };
      const matched = out.filter((r) => matchesTarget(r, target));
      assert.ok(matched.length > 0, `${dir}: patch ${JSON.stringify(target)} matches nothing`);
      if (patch.$patch === 'delete') {
        out = out.filter((r) => !matched.includes(r));
        continue;
      }
      out = out.map((r) =>
        matched.includes(r)
          ? obj(
              strategicMerge(r, {
                ...patch,
                kind: r.kind ?? null,
                metadata: { ...obj(patch.metadata ?? {}, 'metadata'), name: nameOf(r) },
              }),
              'patched',
            )
          : r,
      );
    }
  }
  return out;
}

function generate(
  kind: 'ConfigMap' | 'Secret',
  specs: Json | undefined,
  globalOptions: Obj,
  dir: string,
  resources: Obj[],
): Obj[] {
  let out = resources;
  for (const spec of objs(specs ?? [], `${dir} ${kind} generators`)) {
    const name = str(spec.name, 'generator name');
    const options = isObj(spec.options) ? spec.options : {};
    const hashDisabled = options.disableNameSuffixHash ?? globalOptions.disableNameSuffixHash;
    assert.equal(
      hashDisabled,
      true,
      `${dir}: ${name}: the built-in kustomize needs disableNameSuffixHash: true`,
    );
    const data: Record<string, string> = {};
    for (const literal of arr(spec.literals ?? [], 'literals')) {
      const text = str(literal, 'literal');
      const eq = text.indexOf('=');
      data[text.slice(0, eq)] = text.slice(eq + 1);
    }
    for (const file of arr(spec.files ?? [], 'files')) {
      const text = str(file, 'file');
      const eq = text.indexOf('=');
      const [key, rel] = eq >= 0 ? [text.slice(0, eq), text.slice(eq + 1)] : [path.basename(text), text];
      data[key] = readFileSync(path.join(dir, rel), 'utf8');
    }
    for (const envFile of arr(spec.envs ?? [], 'envs')) {
      for (const line of readFileSync(path.join(dir, str(envFile, 'env file')), 'utf8').split('\n')) {
        if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
        const eq = line.indexOf('=');
        data[line.slice(0, eq).trim()] = line.slice(eq + 1);
      }
    }
    const encoded: Obj = {};
    for (const [k, v] of Object.entries(data))
      encoded[k] = kind === 'Secret' ? Buffer.from(v).toString('base64') : v;
    const labels: Obj = {
      ...(isObj(globalOptions.labels) ? globalOptions.labels : {}),
      ...(isObj(options.labels) ? options.labels : {}),
    };
    const annotations: Obj = {
      ...(isObj(globalOptions.annotations) ? globalOptions.annotations : {}),
      ...(isObj(options.annotations) ? options.annotations : {}),
    };
    const behavior = typeof spec.behavior === 'string' ? spec.behavior : 'create';
    if (behavior === 'create') {
      const metadata: Obj = { name };
      if (Object.keys(labels).length > 0) metadata.labels = labels;
      if (Object.keys(annotations).length > 0) metadata.annotations = annotations;
      const generated: Obj = { apiVersion: 'v1', kind, metadata, data: encoded };
      if (kind === 'Secret') generated.type = 'Opaque';
      out = [...out, generated];
      continue;
    }
    const existing = out.find((r) => kindOf(r) === kind && nameOf(r) === name);
    assert.ok(existing, `${dir}: ${kind} ${name} with behavior ${behavior} has nothing to ${behavior}`);
    const metadata = obj(existing.metadata, 'metadata');
    const merged: Obj = {
      ...existing,
      metadata: {
        ...metadata,
        labels: { ...(isObj(metadata.labels) ? metadata.labels : {}), ...labels },
        annotations: { ...(isObj(metadata.annotations) ? metadata.annotations : {}), ...annotations },
      },
    };
    const previous: Obj = behavior === 'merge' ? { ...(isObj(existing.data) ? existing.data : {}) } : {};
    if (behavior === 'merge' && kind === 'Secret' && isObj(existing.stringData)) {
      for (const [k, v] of Object.entries(existing.stringData))
        previous[k] = Buffer.from(String(v)).toString('base64');
    }
    merged.data = { ...previous, ...encoded };
    delete merged.stringData;
    out = out.map((r) => (r === existing ? merged : r));
  }
  return out;
}

function podSpecs(r: Obj): Obj[] {
  const candidates = [
    at(r, 'spec.template.spec'),
    at(r, 'spec.jobTemplate.spec.template.spec'),
    kindOf(r) === 'Pod' ? r.spec : undefined,
  ];
  return candidates.filter((c): c is Obj => isObj(c));
}

function containersOf(r: Obj): Obj[] {
  return podSpecs(r).flatMap((spec) => [
    ...(Array.isArray(spec.initContainers) ? objs(spec.initContainers, 'initContainers') : []),
    ...(Array.isArray(spec.containers) ? objs(spec.containers, 'containers') : []),
  ]);
}

function transform(resources: Obj[], k: Obj, dir: string): Obj[] {
  let out = applyPatches(resources, k.patches, dir);
  for (const key of [
    'patchesStrategicMerge',
    'patchesJson6902',
    'labels',
    'commonLabels',
    'commonAnnotations',
    'namePrefix',
    'nameSuffix',
    'replacements',
    'vars',
    'helmCharts',
    'transformers',
    'generators',
  ]) {
    assert.equal(k[key], undefined, `${dir}: the built-in kustomize does not implement "${key}"`);
  }
  if (typeof k.namespace === 'string') {
    const namespace = k.namespace;
    out = out.map((r) =>
      CLUSTER_SCOPED.has(kindOf(r)) ? r : { ...r, metadata: { ...obj(r.metadata, 'metadata'), namespace } },
    );
  }
  const images = objs(k.images ?? [], 'images');
  if (images.length > 0) {
    out = out.map((r) => {
      const copy = obj(toJson(r), 'copy');
      for (const container of containersOf(copy)) {
        const image = str(container.image, 'image');
        const imageName = image.replace(/@.*$/, '').replace(/:[^/:]*$/, '');
        const rule = images.find((i) => i.name === imageName);
        if (!rule) continue;
        const newName = typeof rule.newName === 'string' ? rule.newName : imageName;
        if (typeof rule.digest === 'string') container.image = `${newName}@${rule.digest}`;
        else if (typeof rule.newTag === 'string') container.image = `${newName}:${rule.newTag}`;
        else container.image = image.replace(imageName, newName);
      }
      return copy;
    });
  }
  for (const replica of objs(k.replicas ?? [], 'replicas')) {
    const matched = out.filter(
      (r) => nameOf(r) === replica.name && ['Deployment', 'StatefulSet', 'ReplicaSet'].includes(kindOf(r)),
    );
    assert.ok(matched.length > 0, `${dir}: replicas for ${String(replica.name)} match nothing`);
    out = out.map((r) =>
      matched.includes(r) ? { ...r, spec: { ...obj(r.spec, 'spec'), replicas: replica.count ?? null } } : r,
    );
  }
  return out;
}

/** The subset of `kustomize build` that k8s/ and deploy/ use; every other field is refused loudly. */
function builtinKustomize(dir: string, inherited: Obj[] = [], asComponent = false): Obj[] {
  const k = readKustomization(dir);
  const expectedKind = asComponent ? 'Component' : 'Kustomization';
  assert.equal(k.kind ?? 'Kustomization', expectedKind, `${dir}: expected kind ${expectedKind}`);
  let resources = asComponent ? inherited : [];
  for (const entry of arr(k.resources ?? [], `${dir} resources`)) {
    const target = path.resolve(dir, str(entry, 'resource'));
    if (statSync(target).isDirectory()) resources = [...resources, ...builtinKustomize(target)];
    else resources = [...resources, ...parseYamlDocs(readFileSync(target, 'utf8'), target)];
  }
  for (const entry of arr(k.components ?? [], `${dir} components`)) {
    resources = builtinKustomize(path.resolve(dir, str(entry, 'component')), resources, true);
  }
  const globalOptions = isObj(k.generatorOptions) ? k.generatorOptions : {};
  resources = generate('ConfigMap', k.configMapGenerator, globalOptions, dir, resources);
  resources = generate('Secret', k.secretGenerator, globalOptions, dir, resources);
  resources = transform(resources, k, dir);
  const seen = new Set<string>();
  for (const r of resources) {
    assert.ok(!seen.has(keyOf(r)), `${dir}: duplicate ${keyOf(r)}`);
    seen.add(keyOf(r));
  }
  return resources;
}

function kustomizeTool(): string[] | undefined {
  if (process.env.COSTWATCH_KUSTOMIZE === 'builtin') return undefined;
  if (hasCommand('kustomize')) return ['kustomize', 'build'];
  if (hasCommand('kubectl')) return ['kubectl', 'kustomize'];
  return undefined;
}

function kustomizeWithTool(tool: string[], dir: string): Obj[] {
  const [cmd, ...args] = tool;
  const result = run(cmd!, [...args, dir]);
  assert.equal(result.status, 0, `${tool.join(' ')} ${dir} failed:\n${result.stderr}`);
  return parseYamlDocs(result.stdout, `${tool.join(' ')} ${dir}`);
}

interface Build {
  tool: string;
  resources: Obj[];
}

const buildCache = new Map<string, Build>();
function kustomize(dir: string): Build {
  const cached = buildCache.get(dir);
  if (cached) return cached;
  const tool = kustomizeTool();
  const build = tool
    ? { tool: tool.join(' '), resources: kustomizeWithTool(tool, dir) }
    : { tool: 'built-in', resources: builtinKustomize(dir) };
  buildCache.set(dir, build);
  return build;
}

/**
 * The dev overlay reads JWT_SECRET_KEY from k8s/overlays/dev/secrets.env, which is git-ignored and
 * generated once per checkout (issue 12: no committed key); generate it as a developer would.
 */
function ensureDevSecrets(): void {
  const file = repoPath('k8s', 'overlays', 'dev', 'secrets.env');
  if (!existsSync(file))
    writeFileSync(file, `JWT_SECRET_KEY=${randomBytes(48).toString('base64')}\n`, { mode: 0o600 });
}

/** An overlay in a temporary folder made of the base plus the given components. */
function withComponents(components: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'costwatch-kustomize-'));
  const rel = (p: string): string => path.relative(dir, repoPath(p));
  writeFileSync(
    path.join(dir, 'kustomization.yaml'),
    stringifyYaml({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      resources: [rel('k8s/base')],
      components: components.map(rel),
    }),
  );
  return dir;
}

function find(resources: Obj[], kind: string, name: string): Obj {
  const found = resources.find((r) => kindOf(r) === kind && nameOf(r) === name);
  assert.ok(
    found,
    `${kind} ${name} is missing (have: ${resources.map((r) => `${kindOf(r)}/${nameOf(r)}`).join(', ')})`,
  );
  return found;
}

function dataOf(r: Obj): Record<string, string> {
  const out = strMap(r.data);
  if (kindOf(r) === 'Secret') {
    for (const [k, v] of Object.entries(out)) out[k] = Buffer.from(v, 'base64').toString('utf8');
    Object.assign(out, strMap(r.stringData));
  }
  return out;
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);
const podLabels = (r: Obj): Record<string, string> => strMap(at(r, 'spec.template.metadata.labels'));

function containerPort(container: Obj, port: Json | undefined): number | undefined {
  if (typeof port === 'number') return port;
  const named = objs(container.ports ?? [], 'ports').find((p) => p.name === port);
  return typeof named?.containerPort === 'number' ? named.containerPort : undefined;
}

/** Invariants every build (base, overlays, components) must keep. */
function assertConsistent(resources: Obj[], label: string): void {
  const workloads = resources.filter((r) => WORKLOAD_KINDS.has(kindOf(r)));
  for (const r of resources) {
    if (kindOf(r) === 'Namespace') continue;
    assert.equal(at(r, 'metadata.namespace'), 'costwatch', `${label}: ${kindOf(r)} ${nameOf(r)} namespace`);
  }
  // Services select the pods of a workload and target one of their ports.
  for (const service of resources.filter((r) => kindOf(r) === 'Service')) {
    const selector = strMap(at(service, 'spec.selector'));
    const backing = workloads.filter((w) => labelsMatch(selector, podLabels(w)));
    assert.ok(
      backing.length > 0,
      `${label}: Service ${nameOf(service)} selects no workload pods (${JSON.stringify(selector)})`,
    );
    for (const port of objs(at(service, 'spec.ports'), `${nameOf(service)} ports`)) {
      const target = port.targetPort ?? port.port;
      const resolved = backing.some((w) =>
        containersOf(w).some((c) => containerPort(c, target) !== undefined),
      );
      assert.ok(
        resolved,
        `${label}: Service ${nameOf(service)} targetPort ${String(target)} is no container port`,
      );
    }
  }
  // PodDisruptionBudgets select a workload.
  for (const pdb of resources.filter((r) => kindOf(r) === 'PodDisruptionBudget')) {
    const selector = strMap(at(pdb, 'spec.selector.matchLabels'));
    assert.ok(
      workloads.some((w) => labelsMatch(selector, podLabels(w))),
      `${label}: PDB ${nameOf(pdb)} selects nothing`,
    );
  }
  // Every ConfigMap/Secret reference resolves to an existing key.
  const byName = (kind: string, name: string): Obj | undefined =>
    resources.find((r) => kindOf(r) === kind && nameOf(r) === name);
  for (const w of workloads) {
    for (const c of containersOf(w)) {
      const where = `${label}: ${kindOf(w)} ${nameOf(w)} container ${String(c.name)}`;
      for (const from of objs(c.envFrom ?? [], 'envFrom')) {
        const cm = at(from, 'configMapRef.name');
        const secret = at(from, 'secretRef.name');
        if (typeof cm === 'string')
          assert.ok(byName('ConfigMap', cm), `${where}: envFrom ConfigMap ${cm} missing`);
        if (typeof secret === 'string')
          assert.ok(byName('Secret', secret), `${where}: envFrom Secret ${secret} missing`);
      }
      for (const env of objs(c.env ?? [], 'env')) {
        for (const [refKind, field] of [
          ['ConfigMap', 'configMapKeyRef'],
          ['Secret', 'secretKeyRef'],
        ] as const) {
          const ref = at(env, `valueFrom.${field}`);
          if (!isObj(ref)) continue;
          const source = byName(refKind, str(ref.name, `${where} ${field}.name`));
          assert.ok(
            source,
            `${where}: env ${String(env.name)} references missing ${refKind} ${String(ref.name)}`,
          );
          const key = str(ref.key, `${where} ${field}.key`);
          assert.ok(
            key in dataOf(source),
            `${where}: env ${String(env.name)} references missing key ${key} of ${refKind} ${String(ref.name)}`,
          );
        }
      }
    }
  }
  // Ingress backends exist.
  for (const ingress of resources.filter((r) => kindOf(r) === 'Ingress')) {
    for (const rule of objs(at(ingress, 'spec.rules'), 'rules')) {
      for (const p of objs(at(rule, 'http.paths'), 'paths')) {
        const service = byName('Service', str(at(p, 'backend.service.name'), 'backend service'));
        assert.ok(service, `${label}: Ingress ${nameOf(ingress)} backend service missing`);
        const portNumber = at(p, 'backend.service.port.number');
        assert.ok(
          objs(at(service, 'spec.ports'), 'ports').some((sp) => sp.port === portNumber),
          `${label}: Ingress backend port ${String(portNumber)} not on the Service`,
        );
      }
    }
  }
}

// ================================================================================================

describe('Dockerfile', () => {
  const dockerfile = readText('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);

  test('multi-stage on Node 22 bookworm-slim with deps, build and runtime stages', () => {
    // Pinned by digest (issue 12), with the how-to-update comment.
    assert.match(dockerfile, /^ARG NODE_IMAGE=node:22-bookworm-slim@sha256:[0-9a-f]{64}$/m);
    assert.match(dockerfile, /To update[\s\S]*imagetools inspect node:22-bookworm-slim/);
    assert.ok(stages.length >= 3, 'expected at least three stages');
    for (const stage of ['deps', 'build', 'runtime'])
      assert.match(dockerfile, new RegExp(`^FROM \\S+ AS ${stage}$`, 'm'));
    assert.match(dockerfile, /npm ci\b/);
    assert.match(dockerfile, /npm run build/);
    assert.match(dockerfile, /npm prune --omit=dev/);
  });

  test('runtime stage: production, non-root uid 1000, tini, migrations, costwatch entrypoint', () => {
    const runtime = stages.at(-1) ?? '';
    assert.match(runtime, /NODE_ENV=production/);
    assert.match(runtime, /^USER 1000(:1000)?$/m);
    assert.match(runtime, /COPY --from=build \/app\/database\/migrations \.\/database\/migrations/);
    assert.match(runtime, /COPY --from=build \/app\/dist \.\/dist/);
    assert.match(runtime, /COPY --from=build \/app\/bin \.\/bin/);
    assert.match(runtime, /apt-get install[^\n]*\btini\b/);
    const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(runtime);
    assert.ok(entrypoint?.[1], 'ENTRYPOINT in exec form');
    assert.deepEqual(JSON.parse(entrypoint[1]), ['/usr/bin/tini', '--', 'node', 'bin/costwatch.mjs']);
    assert.doesNotMatch(runtime, /npm (ci|install)/, 'the runtime stage installs nothing from npm');
  });

  test('.dockerignore keeps local state, builds and secrets out of the context', () => {
    const ignored = new Set(
      readText('.dockerignore')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#')),
    );
    for (const entry of ['node_modules', '.costwatch', 'dist', '.git', '.env'])
      assert.ok(ignored.has(entry), `${entry} ignored`);
    for (const needed of [
      'package.json',
      'package-lock.json',
      'bin',
      'database',
      'lib',
      'tsconfig.json',
      'tsconfig.build.json',
    ]) {
      assert.ok(!ignored.has(needed), `${needed} must stay in the build context`);
    }
  });
});

describe('docker-compose.yml', () => {
  const compose = parseYamlFile('docker-compose.yml');
  const services = obj(compose.services, 'services');
  const service = (name: string): Obj => obj(services[name], `service ${name}`);
  const dependsOn = (name: string): Obj => obj(service(name).depends_on, `${name}.depends_on`);
  const commandOf = (name: string): string => {
    const command = service(name).command;
    return Array.isArray(command) ? command.map(String).join(' ') : String(command);
  };

  test('has every service; only prometheus and grafana are behind the observability profile', () => {
    const expected = [
      'postgres',
      'redis',
      'migrate',
      'api',
      'scheduler',
      'worker',
      'sim',
      'prometheus',
      'grafana',
    ];
    for (const name of expected) assert.ok(name in services, `service ${name}`);
    for (const [name, svc] of Object.entries(services)) {
      const profiles = at(svc, 'profiles');
      if (name === 'prometheus' || name === 'grafana')
        assert.deepEqual(profiles, ['observability'], `${name} profiles`);
      else assert.equal(profiles, undefined, `${name} must start without a profile`);
    }
  });

  test('postgres and redis: named volumes, healthchecks; redis with AOF and noeviction', () => {
    const volumes = obj(compose.volumes, 'volumes');
    for (const name of ['postgres', 'redis']) {
      assert.ok(isObj(service(name).healthcheck), `${name} healthcheck`);
      const mounts = arr(service(name).volumes, `${name}.volumes`).map((v) => str(v, 'volume'));
      assert.ok(
        mounts.some((m) => m.split(':')[0]! in volumes),
        `${name} uses a named volume`,
      );
    }
    assert.match(String(service('postgres').image), /^postgres:15/);
    assert.match(String(service('redis').image), /^redis:7/);
    const redis = commandOf('redis');
    assert.match(redis, /--appendonly yes/);
    assert.match(redis, /--maxmemory-policy noeviction/);
  });

  test('migrate runs once after postgres is healthy; the roles wait for it', () => {
    assert.equal(commandOf('migrate'), 'migrate up');
    assert.equal(service('migrate').restart, 'no');
    assert.equal(at(dependsOn('migrate'), 'postgres.condition'), 'service_healthy');
    for (const name of ['api', 'scheduler', 'worker']) {
      assert.equal(
        at(dependsOn(name), 'migrate.condition'),
        'service_completed_successfully',
        `${name} waits for migrate`,
      );
      assert.equal(at(dependsOn(name), 'redis.condition'), 'service_healthy', `${name} waits for redis`);
      assert.equal(commandOf(name), name, `${name} command`);
      assert.ok(isObj(service(name).healthcheck), `${name} healthcheck`);
    }
    assert.match(commandOf('sim'), /^sim --port 4566 --host 0\.0\.0\.0$/);
    assert.match(JSON.stringify(service('sim').healthcheck), /\/_sim\/health/);
  });

  test('one image for every role, the environment shared through an x- anchor, AWS = sim by default', () => {
    const image = service('api').image;
    for (const name of ['migrate', 'scheduler', 'worker', 'sim'])
      assert.equal(service(name).image, image, `${name} image`);
    const raw = readText('docker-compose.yml');
    assert.match(raw, /^x-[\w-]+: &costwatch-env$/m);
    assert.match(
      raw,
      /AWS_ENDPOINT_URL: \$\{AWS_ENDPOINT_URL-http:\/\/sim:4566\}/,
      'simulator by default, `AWS_ENDPOINT_URL=` opts out',
    );
    for (const name of ['migrate', 'api', 'scheduler', 'worker']) {
      const env = strMap(service(name).environment);
      for (const key of ['DATABASE_URL', 'REDIS_URL', 'AWS_ENDPOINT_URL'])
        assert.ok(key in env, `${name} env ${key}`);
      // Only the api gets the JWT key (issue 12).
      assert.equal('JWT_SECRET_KEY' in env, name === 'api', `${name} env JWT_SECRET_KEY`);
      for (const key of Object.keys(env))
        assert.ok(isKnownEnv(key), `${name} env ${key} is read by nothing (lib/config.ts)`);
    }
    // No default: compose refuses to start without a JWT_SECRET_KEY, and the message says how to make one.
    assert.match(raw, /JWT_SECRET_KEY: \$\{JWT_SECRET_KEY:\?[^}]*openssl rand/);
    assert.doesNotMatch(raw, /JWT_SECRET_KEY:-/);
  });

  test('api publishes 8002; workers scale: no host ports, no container_name, stop grace > SHUTDOWN_GRACE_SECONDS', () => {
    assert.ok(arr(service('api').ports, 'api.ports').some((p) => String(p).endsWith(':8002')));
    for (const name of ['worker', 'scheduler']) {
      assert.equal(service(name).ports, undefined, `${name} has no host ports`);
      assert.equal(service(name).container_name, undefined, `${name} has no container_name`);
    }
    for (const [name, svc] of Object.entries(services))
      assert.equal(at(svc, 'container_name'), undefined, `${name} container_name`);
    const grace = /^(\d+)s$/.exec(String(service('worker').stop_grace_period));
    assert.ok(
      grace?.[1] && Number(grace[1]) > 25,
      'worker stop_grace_period exceeds SHUTDOWN_GRACE_SECONDS (25)',
    );
  });

  test('observability: Prometheus and Grafana mount files that exist', () => {
    for (const name of ['prometheus', 'grafana']) {
      for (const volume of arr(service(name).volumes, `${name}.volumes`).map((v) => str(v, 'volume'))) {
        const source = volume.split(':')[0] ?? '';
        if (source.startsWith('./')) assert.ok(existsSync(repoPath(source)), `${name} mounts ${source}`);
      }
    }
    assert.ok(
      commandOf('prometheus').includes(
        `sed -n '/^spec:/,$$p' /etc/prometheus/${ALERTS_SOURCE[2]} | sed '1d;s/^  //'`,
      ),
      'prometheus extracts the rule file from the PrometheusRule',
    );
  });

  test('docker compose config accepts the file (when a compose CLI is installed)', (t) => {
    const v2 = hasCommand('docker') && run('docker', ['compose', 'version']).status === 0;
    if (v2) {
      const result = run('docker', ['compose', '-f', 'docker-compose.yml', 'config', '-q']);
      assert.equal(result.status, 0, result.stderr);
      const scaled = run('docker', [
        'compose',
        '-f',
        'docker-compose.yml',
        '--profile',
        'observability',
        'config',
        '--services',
      ]);
      assert.equal(scaled.status, 0, scaled.stderr);
      return;
    }
    if (!hasCommand('docker-compose')) {
      t.skip('neither `docker compose` nor `docker-compose` is installed');
      return;
    }
    // Compose v1 predates the top-level `name`; validate the rest of the file with it.
    const dir = mkdtempSync(path.join(tmpdir(), 'costwatch-compose-'));
    try {
      const copy = path.join(dir, 'docker-compose.yml');
      writeFileSync(copy, readText('docker-compose.yml').replace(/^name: .*$/m, ''));
      const result = run('docker-compose', [
        '-f',
        copy,
        '--project-directory',
        root,
        '--profile',
        'observability',
        'config',
        '-q',
      ]);
      assert.equal(result.status, 0, result.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Prometheus configuration and alert rules', () => {
  const source = readText(...ALERTS_SOURCE);
  const ruleText = extractRuleFile(source);
  const ruleFile = obj(parseYamlDocs(ruleText, 'extracted rule file')[0], 'rule file');
  const rules = alertRules(ruleFile);
  const prometheusRule = parseYamlFile(...ALERTS_SOURCE);

  test('the PrometheusRule is the one source: its spec is the plain rule file', () => {
    assert.equal(prometheusRule.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(prometheusRule.kind, 'PrometheusRule');
    assert.equal(at(prometheusRule, 'metadata.name'), 'costwatch-alerts');
    assert.equal(
      Object.keys(prometheusRule).at(-1),
      'spec',
      'spec must be the last top-level key (the extraction reads to the end)',
    );
    assert.deepEqual(ruleFile, { groups: at(prometheusRule, 'spec.groups') ?? null });
    const duplicates = readdirSync(repoPath('deploy', 'prometheus')).filter(
      (f) => f !== ALERTS_SOURCE[2] && /alert|rule/i.test(f),
    );
    assert.deepEqual(duplicates, [], 'no second copy of the rules');
  });

  test('every required alert exists with severity, summary and a documented runbook', () => {
    const docs = readText('docs', 'DEPLOYMENT.md');
    const anchors = new Set(
      [...docs.matchAll(/^#+ (.+)$/gm)].map((m) =>
        (m[1] ?? '')
          .toLowerCase()
          .trim()
          .replace(/[^\w\s-]/g, '')
          .replace(/\s+/g, '-'),
      ),
    );
    const names = rules.map((r) => r.alert);
    for (const name of REQUIRED_ALERTS) assert.ok(names.includes(name), `alert ${name}`);
    for (const { alert, rule } of rules) {
      assert.match(String(at(rule, 'labels.severity')), /^(critical|warning|info)$/, `${alert} severity`);
      assert.ok(typeof at(rule, 'annotations.summary') === 'string', `${alert} summary`);
      const runbook = str(at(rule, 'annotations.runbook_url'), `${alert} runbook_url`);
      const anchor = runbook.split('#')[1] ?? '';
      assert.ok(anchors.has(anchor), `${alert}: docs/DEPLOYMENT.md has no heading for #${anchor}`);
    }
    const highErrorRate = rules.find((r) => r.alert === 'HighErrorRate');
    assert.ok(
      highErrorRate?.expr.includes('http_requests_total{status=~"5.."}'),
      'HighErrorRate uses http_requests_total{status=~"5.."}',
    );
  });

  test('alerts use only metrics that CostWatch exports (lib/metrics.ts) or Prometheus adds', async () => {
    const known = await knownMetrics();
    for (const name of CONTRACT_METRICS) assert.ok(known.names.has(name), `lib/metrics.ts registers ${name}`);
    for (const { alert, expr } of rules) {
      for (const metric of promqlMetricNames(expr))
        assert.ok(isKnownMetric(metric, known), `${alert}: unknown metric ${metric}`);
    }
  });

  test('prometheus.yml scrapes every replica of each role through Docker DNS', () => {
    const config = parseYamlFile('deploy', 'prometheus', 'prometheus.yml');
    const jobs = objs(config.scrape_configs, 'scrape_configs');
    const compose = obj(parseYamlFile('docker-compose.yml').services, 'services');
    for (const [job, port] of Object.entries(METRICS_PORTS)) {
      const scrape = jobs.find((j) => j.job_name === job);
      assert.ok(scrape, `scrape job ${job}`);
      const sd = objs(scrape.dns_sd_configs, `${job} dns_sd_configs`)[0];
      assert.ok(sd, `${job} uses dns_sd_configs`);
      assert.equal(sd.type, 'A');
      assert.equal(sd.port, port);
      for (const name of arr(sd.names, 'names'))
        assert.ok(str(name, 'name') in compose, `${job}: ${String(name)} is a compose service`);
    }
    assert.deepEqual(config.rule_files, ['/prometheus/rules/*.yml']);
  });

  test('promtool check rules, check config and rule unit tests (when promtool is installed)', (t) => {
    if (!hasCommand('promtool')) {
      t.skip('promtool is not installed (Debian package `prometheus`; `npm test` installs it)');
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'costwatch-promtool-'));
    try {
      writeFileSync(path.join(dir, 'alerts.yml'), ruleText);
      const rulesCheck = run('promtool', ['check', 'rules', path.join(dir, 'alerts.yml')]);
      assert.equal(rulesCheck.status, 0, rulesCheck.stdout + rulesCheck.stderr);
      const configCheck = run('promtool', [
        'check',
        'config',
        repoPath('deploy', 'prometheus', 'prometheus.yml'),
      ]);
      assert.equal(configCheck.status, 0, configCheck.stdout + configCheck.stderr);

      const expr = (name: string): string => {
        const rule = rules.find((r) => r.alert === name);
        assert.ok(rule, name);
        return `count((${rule.expr}))`;
      };
      const fires = [{ labels: '{}', value: 1 }];
      const series = (s: string, values: string): Obj => ({ series: s, values });
      const unitTests = {
        rule_files: ['alerts.yml'],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: [
              series(
                'http_requests_total{job="api-gateway",instance="a:8002",method="GET",route="/api/v1/costs",status="200"}',
                '0+90x20',
              ),
              series(
                'http_requests_total{job="api-gateway",instance="a:8002",method="GET",route="/api/v1/costs",status="500"}',
                '0+10x20',
              ),
              // Two workers report the same shared queue: 600 waiting is not a backlog of 1200.
              series(
                'costwatch_queue_jobs{job="worker",instance="w1:9464",queue="fetch-costs",state="waiting"}',
                '600x20',
              ),
              series(
                'costwatch_queue_jobs{job="worker",instance="w2:9464",queue="fetch-costs",state="waiting"}',
                '600x20',
              ),
              series(
                'costwatch_queue_jobs{job="worker",instance="w1:9464",queue="rollups",state="waiting"}',
                '1500x20',
              ),
              series(
                'costwatch_last_successful_refresh_age_seconds{job="scheduler",instance="s1:9464"}',
                '200000x20',
              ),
              series('up{job="worker",instance="w1:9464"}', '1x20'),
              series('up{job="worker",instance="w2:9464"}', '0x20'),
              // Two deliveries past their deadline at minute 5; retries alone never fire.
              series(
                'costwatch_notifications_total{job="worker",instance="w1:9464",channel="webhook",outcome="failed"}',
                '0x5 2x15',
              ),
              series(
                'costwatch_notifications_total{job="worker",instance="w1:9464",channel="email",outcome="retried"}',
                '0+5x20',
              ),
              series('costwatch_notifications_undelivered{job="worker",instance="w1:9464"}', '150x40'),
              series('costwatch_notifications_undelivered{job="worker",instance="w2:9464"}', '150x40'),
            ],
            promql_expr_test: [
              { expr: expr('HighErrorRate'), eval_time: '10m', exp_samples: fires },
              { expr: expr('StaleRefresh'), eval_time: '10m', exp_samples: fires },
              { expr: expr('WorkerDown'), eval_time: '10m', exp_samples: fires },
              { expr: expr('ApiDown'), eval_time: '10m', exp_samples: fires },
              {
                expr: rules.find((r) => r.alert === 'QueueBacklog')?.expr ?? 'missing',
                eval_time: '10m',
                exp_samples: [{ labels: '{queue="rollups"}', value: 1500 }],
              },
              { expr: expr('NotificationsFailing'), eval_time: '10m', exp_samples: fires },
              {
                expr: rules.find((r) => r.alert === 'NotificationsUndelivered')?.expr ?? 'missing',
                eval_time: '10m',
                exp_samples: [{ labels: '{}', value: 150 }],
              },
            ],
          },
          {
            interval: '1m',
            input_series: [
              series(
                'http_requests_total{job="api-gateway",instance="a:8002",method="GET",route="/health",status="200"}',
                '0+100x20',
              ),
              series('up{job="api-gateway",instance="a:8002"}', '1x20'),
              series('up{job="worker",instance="w1:9464"}', '1x20'),
              series(
                'costwatch_last_successful_refresh_age_seconds{job="scheduler",instance="s1:9464"}',
                '3600x20',
              ),
            ],
            promql_expr_test: [
              { expr: expr('HighErrorRate'), eval_time: '10m', exp_samples: [] },
              { expr: expr('StaleRefresh'), eval_time: '10m', exp_samples: [] },
              { expr: expr('WorkerDown'), eval_time: '10m', exp_samples: [] },
              { expr: expr('ApiDown'), eval_time: '10m', exp_samples: [] },
              { expr: expr('NotificationsFailing'), eval_time: '10m', exp_samples: [] },
            ],
          },
        ],
      };
      writeFileSync(path.join(dir, 'alerts.test.yml'), stringifyYaml(unitTests));
      const unit = run('promtool', ['test', 'rules', path.join(dir, 'alerts.test.yml')], dir);
      assert.equal(unit.status, 0, unit.stdout + unit.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Grafana provisioning and dashboard', () => {
  const dashboard = obj(
    toJson(JSON.parse(readText('deploy', 'grafana', 'dashboards', 'costwatch.json'))),
    'dashboard',
  );
  const panels = objs(dashboard.panels, 'panels').filter((p) => p.type !== 'row');
  const targets = panels.flatMap((p) => objs(p.targets, `panel ${String(p.title)} targets`));
  const exprs = targets.map((t) => t.expr).filter((e): e is string => typeof e === 'string');

  test('data sources: Prometheus and Postgres; the dashboard provider reads the mounted folder', () => {
    const ds = objs(
      parseYamlFile('deploy', 'grafana', 'provisioning', 'datasources', 'datasources.yml').datasources,
      'datasources',
    );
    assert.ok(
      ds.some((d) => d.type === 'prometheus'),
      'Prometheus data source',
    );
    assert.ok(
      ds.some((d) => d.type === 'grafana-postgresql-datasource' || d.type === 'postgres'),
      'Postgres data source',
    );
    const providers = objs(
      parseYamlFile('deploy', 'grafana', 'provisioning', 'dashboards', 'costwatch.yml').providers,
      'providers',
    );
    const folder = str(at(providers[0], 'options.path'), 'provider path');
    const grafana = obj(at(parseYamlFile('docker-compose.yml'), 'services.grafana'), 'grafana');
    assert.ok(
      arr(grafana.volumes, 'volumes').some((v) =>
        String(v).startsWith(`./deploy/grafana/dashboards:${folder}`),
      ),
      'dashboards mounted where the provider reads',
    );
  });

  test('every panel has a data source and queries', () => {
    assert.equal(typeof dashboard.uid, 'string');
    assert.ok(panels.length >= 10);
    for (const panel of panels) {
      const title = str(panel.title, 'panel title');
      const ds = obj(panel.datasource, `${title} datasource`);
      assert.ok(
        typeof ds.type === 'string' && typeof ds.uid === 'string',
        `${title} datasource type and uid`,
      );
      const panelTargets = objs(panel.targets, `${title} targets`);
      assert.ok(panelTargets.length > 0, `${title} has queries`);
      for (const target of panelTargets) {
        assert.ok(
          typeof target.expr === 'string' || typeof target.rawSql === 'string',
          `${title}: every target has expr or rawSql`,
        );
      }
    }
  });

  test('covers the API, queues, jobs, AWS, cost, rows, refresh age and memory', () => {
    const all = exprs.join('\n');
    for (const metric of [
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'costwatch_queue_jobs',
      'costwatch_jobs_total',
      'costwatch_aws_requests_total',
      'costwatch_aws_throttles_total',
      'costwatch_aws_estimated_cost_dollars_total',
      'costwatch_rows_loaded_total',
      'costwatch_last_successful_refresh_age_seconds',
      'process_resident_memory_bytes',
      'costwatch_alerts_fired_total',
      'costwatch_notifications_total',
      'costwatch_notifications_undelivered',
    ]) {
      assert.ok(all.includes(metric), `a panel shows ${metric}`);
    }
  });

  test('queries use only metrics that CostWatch exports', async () => {
    const known = await knownMetrics();
    for (const expr of exprs)
      for (const metric of promqlMetricNames(expr))
        assert.ok(isKnownMetric(metric, known), `dashboard: unknown metric ${metric} in ${expr}`);
  });

  test('the Postgres panel reads cost_daily_service columns that the migrations create', () => {
    const sql = targets.map((t) => t.rawSql).filter((s): s is string => typeof s === 'string');
    assert.ok(
      sql.some((s) => s.includes('FROM cost_daily_service')),
      'daily cost panel',
    );
    const migrations = readdirSync(repoPath('database', 'migrations')).filter((f) => f.endsWith('.up.sql'));
    const ddl = migrations.map((f) => readText('database', 'migrations', f)).join('\n');
    const table = /CREATE TABLE cost_daily_service \(([\s\S]*?)\n\);/.exec(ddl)?.[1];
    assert.ok(table, 'migrations create cost_daily_service');
    for (const column of ['organization_id', 'day', 'service', 'unblended_cost']) {
      assert.match(table, new RegExp(`^\\s+${column}\\s`, 'm'), `cost_daily_service.${column}`);
    }
  });
});

describe('Kubernetes (kustomize)', () => {
  test('k8s/base builds with every object of the issue', () => {
    const { resources, tool } = kustomize(repoPath('k8s', 'base'));
    assertConsistent(resources, `base (${tool})`);
    find(resources, 'Namespace', 'costwatch');
    for (const [kind, name] of [
      ['ConfigMap', 'costwatch-config'],
      ['Secret', 'costwatch-secrets'],
      ['ServiceAccount', 'costwatch-sa'],
      ['Deployment', 'api-gateway'],
      ['Deployment', 'scheduler'],
      ['Deployment', 'worker'],
      ['Job', 'costwatch-migrate'],
      ['Service', 'api-gateway-service'],
      ['Service', 'worker-metrics'],
      ['Service', 'scheduler-metrics'],
      ['Ingress', 'costwatch-ingress'],
      ['PodDisruptionBudget', 'api-gateway'],
      ['PodDisruptionBudget', 'scheduler'],
      ['PodDisruptionBudget', 'worker'],
      ['NetworkPolicy', 'default-deny-ingress'],
      ['ScaledObject', 'worker'],
      ['PrometheusRule', 'costwatch-alerts'],
      ['ServiceMonitor', 'costwatch'],
      ['ConfigMap', 'costwatch-grafana-dashboard'],
    ] as const) {
      find(resources, kind, name);
    }
  });

  test('deployments: image, role, probes, resources, security context, Prometheus annotations', () => {
    const { resources } = kustomize(repoPath('k8s', 'base'));
    const config = dataOf(find(resources, 'ConfigMap', 'costwatch-config'));
    for (const [name, port] of Object.entries(ROLE_PORTS)) {
      const deployment = find(resources, 'Deployment', name);
      const pod = obj(at(deployment, 'spec.template.spec'), `${name} pod`);
      const containers = containersOf(deployment);
      assert.equal(containers.length, 1, `${name}: one container`);
      const c = containers[0]!;
      assert.match(str(c.image, 'image'), /^costwatch\/costwatch:[\w.-]+$/, `${name} image is tagged`);
      const role = name === 'api-gateway' ? 'api' : name;
      assert.equal(arr(c.args, 'args')[0], role, `${name} runs \`costwatch ${role}\``);
      assert.equal(pod.serviceAccountName, 'costwatch-sa');
      assert.equal(at(pod, 'securityContext.runAsNonRoot'), true, `${name} runAsNonRoot`);
      assert.equal(at(c, 'securityContext.readOnlyRootFilesystem'), true, `${name} read-only root`);
      assert.equal(
        at(c, 'securityContext.allowPrivilegeEscalation'),
        false,
        `${name} no privilege escalation`,
      );
      assert.deepEqual(at(c, 'securityContext.capabilities.drop'), ['ALL']);
      assert.ok(
        objs(c.volumeMounts ?? [], 'volumeMounts').some((m) => m.mountPath === '/tmp'),
        `${name}: writable /tmp`,
      );
      for (const kind of ['requests', 'limits']) {
        for (const resource of ['cpu', 'memory'])
          assert.ok(at(c, `resources.${kind}.${resource}`) !== undefined, `${name} ${kind}.${resource}`);
      }
      assert.ok(
        objs(c.ports, 'ports').some((p) => p.containerPort === port),
        `${name} listens on ${port}`,
      );
      for (const [probe, probePath] of [
        ['livenessProbe', '/health'],
        ['readinessProbe', '/ready'],
      ] as const) {
        assert.equal(at(c, `${probe}.httpGet.path`), probePath, `${name} ${probe} path`);
        assert.equal(containerPort(c, at(c, `${probe}.httpGet.port`)), port, `${name} ${probe} port`);
      }
      const annotations = strMap(at(deployment, 'spec.template.metadata.annotations'));
      assert.equal(annotations['prometheus.io/scrape'], 'true', `${name} scrape annotation`);
      assert.equal(annotations['prometheus.io/port'], String(METRICS_PORTS[name]), `${name} scrape port`);
      assert.equal(annotations['prometheus.io/path'], '/metrics');
    }
    assert.equal(config.PORT, '8002');
    assert.equal(config.METRICS_PORT, '9464');
    const scheduler = find(resources, 'Deployment', 'scheduler');
    assert.ok(Number(at(scheduler, 'spec.replicas')) >= 2, 'scheduler runs two replicas');
  });

  test('workers drain: preStop sleep and a grace period longer than SHUTDOWN_GRACE_SECONDS', () => {
    const { resources } = kustomize(repoPath('k8s', 'base'));
    const config = dataOf(find(resources, 'ConfigMap', 'costwatch-config'));
    const worker = find(resources, 'Deployment', 'worker');
    const container = containersOf(worker)[0]!;
    const preStop = arr(at(container, 'lifecycle.preStop.exec.command'), 'worker preStop').map(String);
    assert.equal(preStop[0], 'sleep');
    const shutdownGrace = Number(config.SHUTDOWN_GRACE_SECONDS);
    assert.ok(shutdownGrace > 0, 'SHUTDOWN_GRACE_SECONDS in costwatch-config');
    const grace = Number(at(worker, 'spec.template.spec.terminationGracePeriodSeconds'));
    assert.ok(
      grace > shutdownGrace + Number(preStop[1]),
      `terminationGracePeriodSeconds ${grace} > preStop + SHUTDOWN_GRACE_SECONDS`,
    );
  });

  test('configuration: known variables only; the base secret is a placeholder the app refuses', () => {
    const { resources } = kustomize(repoPath('k8s', 'base'));
    const config = dataOf(find(resources, 'ConfigMap', 'costwatch-config'));
    for (const key of Object.keys(config))
      assert.ok(isKnownEnv(key), `costwatch-config ${key} is read by nothing (lib/config.ts)`);
    const secrets = dataOf(find(resources, 'Secret', 'costwatch-secrets'));
    assert.deepEqual(Object.keys(secrets).sort(), ['DATABASE_URL', 'JWT_SECRET_KEY', 'REDIS_URL']);
    for (const value of Object.values(secrets)) assert.match(value, /REPLACE/);
    assert.throws(
      () => parseConfig('api', { ...config, ...secrets }),
      /JWT_SECRET_KEY/,
      'placeholders fail at start',
    );
    const sa = find(resources, 'ServiceAccount', 'costwatch-sa');
    assert.match(
      strMap(at(sa, 'metadata.annotations'))['eks.amazonaws.com/role-arn'] ?? '',
      /^arn:aws:iam::\d{12}:role\/.+/,
      'IRSA role annotation',
    );
    const migrate = find(resources, 'Job', 'costwatch-migrate');
    assert.deepEqual(arr(containersOf(migrate)[0]?.args, 'migrate args'), ['migrate', 'up']);
  });

  test('services, ingress and metrics discovery', () => {
    const { resources } = kustomize(repoPath('k8s', 'base'));
    const api = find(resources, 'Service', 'api-gateway-service');
    assert.deepEqual(
      objs(at(api, 'spec.ports'), 'ports').map((p) => p.port),
      [8002, 9464],
    );
    for (const [name, port] of [
      ['api-gateway-service', 9464],
      ['worker-metrics', 9464],
      ['scheduler-metrics', 9464],
    ] as const) {
      const annotations = strMap(at(find(resources, 'Service', name), 'metadata.annotations'));
      assert.equal(annotations['prometheus.io/scrape'], 'true', `${name} prometheus.io/scrape`);
      assert.equal(annotations['prometheus.io/port'], String(port), `${name} prometheus.io/port`);
    }
    const ingress = find(resources, 'Ingress', 'costwatch-ingress');
    assert.match(
      JSON.stringify(at(ingress, 'spec.rules')),
      /"name":"api-gateway-service","port":\{"number":8002\}/,
    );
    // ServiceMonitor: job label = component, so alerts' job="api-gateway|scheduler|worker" match.
    const monitor = find(resources, 'ServiceMonitor', 'costwatch');
    assert.equal(at(monitor, 'spec.jobLabel'), 'app.kubernetes.io/component');
    const selector = strMap(at(monitor, 'spec.selector.matchLabels'));
    const monitored = resources.filter(
      (r) => kindOf(r) === 'Service' && labelsMatch(selector, strMap(at(r, 'metadata.labels'))),
    );
    assert.deepEqual(
      monitored.map((s) => strMap(at(s, 'metadata.labels'))['app.kubernetes.io/component']).sort(),
      Object.keys(ROLE_PORTS).sort(),
    );
  });

  test('network policies: default deny, ingress controller and Prometheus in, egress to DNS/Postgres/Redis/HTTPS', () => {
    const { resources } = kustomize(repoPath('k8s', 'base'));
    const deny = find(resources, 'NetworkPolicy', 'default-deny-ingress');
    assert.deepEqual(at(deny, 'spec.podSelector'), {});
    assert.deepEqual(at(deny, 'spec.policyTypes'), ['Ingress']);
    assert.equal(at(deny, 'spec.ingress'), undefined);
    const policies = resources.filter((r) => kindOf(r) === 'NetworkPolicy');
    const ingressPorts = (selectorLabel: string): number[] =>
      policies
        .filter((p) => JSON.stringify(at(p, 'spec.podSelector')).includes(selectorLabel))
        .flatMap((p) => objs(at(p, 'spec.ingress') ?? [], 'ingress'))
        .flatMap((rule) => objs(rule.ports ?? [], 'ports').map((port) => Number(port.port)));
    assert.ok(ingressPorts('api-gateway').includes(8002), 'ingress controller reaches api 8002');
    const scrapePorts = ingressPorts('"app.kubernetes.io/name":"costwatch"');
    assert.ok(scrapePorts.includes(9464), 'Prometheus reaches the metrics port');
    const egressPorts = policies
      .flatMap((p) => objs(at(p, 'spec.egress') ?? [], 'egress'))
      .flatMap((rule) => objs(rule.ports ?? [], 'ports').map((port) => Number(port.port)));
    for (const port of [53, 5432, 6379, 443]) assert.ok(egressPorts.includes(port), `egress to port ${port}`);
    // The egress policy must cover every CostWatch pod.
    const egress = policies.find((p) => at(p, 'spec.egress') !== undefined);
    const egressSelector = strMap(at(egress, 'spec.podSelector.matchLabels'));
    for (const name of ['api-gateway', 'scheduler', 'worker']) {
      assert.ok(
        labelsMatch(egressSelector, podLabels(find(resources, 'Deployment', name))),
        `egress policy covers ${name}`,
      );
    }
    assert.ok(
      labelsMatch(egressSelector, podLabels(find(resources, 'Job', 'costwatch-migrate'))),
      'egress policy covers the migration Job',
    );
  });

  test('autoscaling: KEDA on queue depth in the base; the HPA component replaces it', () => {
    const { resources } = kustomize(repoPath('k8s', 'base'));
    const scaled = find(resources, 'ScaledObject', 'worker');
    assert.equal(at(scaled, 'spec.scaleTargetRef.name'), 'worker');
    const triggers = objs(at(scaled, 'spec.triggers'), 'triggers');
    assert.ok(
      triggers.some(
        (t) =>
          String(at(t, 'metadata.query')).includes('costwatch_queue_jobs') ||
          /^costwatch:[\w-]+:wait$/.test(String(at(t, 'metadata.listName'))),
      ),
      'trigger on queue depth',
    );
    const dir = withComponents(['k8s/components/hpa']);
    try {
      const { resources: withHpa, tool } = kustomize(dir);
      assertConsistent(withHpa, `base + hpa (${tool})`);
      assert.ok(
        !withHpa.some((r) => kindOf(r) === 'ScaledObject'),
        'the HPA component removes the ScaledObject',
      );
      const hpa = find(withHpa, 'HorizontalPodAutoscaler', 'worker');
      assert.equal(hpa.apiVersion, 'autoscaling/v2');
      assert.equal(at(hpa, 'spec.scaleTargetRef.name'), 'worker');
      assert.ok(
        objs(at(hpa, 'spec.metrics'), 'metrics').some((m) => m.type === 'External' || m.type === 'Pods'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('alerts and dashboard in Kubernetes come from the deploy/ files, not copies', () => {
    const { resources } = kustomize(repoPath('k8s', 'base'));
    const rule = find(resources, 'PrometheusRule', 'costwatch-alerts');
    assert.deepEqual(at(rule, 'spec'), at(parseYamlFile(...ALERTS_SOURCE), 'spec'));
    const dashboard = find(resources, 'ConfigMap', 'costwatch-grafana-dashboard');
    assert.equal(strMap(at(dashboard, 'metadata.labels')).grafana_dashboard, '1');
    assert.equal(
      dataOf(dashboard)['costwatch.json'],
      readText('deploy', 'grafana', 'dashboards', 'costwatch.json'),
    );
    const copies = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? copies(path.join(dir, e.name))
          : /\.json$|alert|rule/i.test(e.name)
            ? [path.join(dir, e.name)]
            : [],
      );
    assert.deepEqual(copies(repoPath('k8s')), [], 'k8s/ holds no copy of the dashboard or the rules');
  });

  test('dev overlay: Postgres on postgres-pvc, Redis with AOF/noeviction, simulator, working secrets', () => {
    ensureDevSecrets();
    const { resources, tool } = kustomize(repoPath('k8s', 'overlays', 'dev'));
    assertConsistent(resources, `dev (${tool})`);
    const postgres = find(resources, 'StatefulSet', 'postgres');
    find(resources, 'PersistentVolumeClaim', 'postgres-pvc');
    assert.ok(
      objs(at(postgres, 'spec.template.spec.volumes'), 'volumes').some(
        (v) => at(v, 'persistentVolumeClaim.claimName') === 'postgres-pvc',
      ),
    );
    assert.match(str(containersOf(postgres)[0]?.image, 'postgres image'), /^postgres:15/);
    const redis = find(resources, 'StatefulSet', 'redis');
    const redisArgs = arr(containersOf(redis)[0]?.args, 'redis args').map(String).join(' ');
    assert.match(redisArgs, /--appendonly yes/);
    assert.match(redisArgs, /--maxmemory-policy noeviction/);
    const sim = find(resources, 'Deployment', 'sim');
    assert.equal(at(containersOf(sim)[0], 'readinessProbe.httpGet.path'), '/_sim/health');
    assert.deepEqual(
      objs(at(find(resources, 'Service', 'sim'), 'spec.ports'), 'ports').map((p) => p.port),
      [4566],
    );
    for (const kind of ['PrometheusRule', 'ServiceMonitor', 'ScaledObject']) {
      assert.ok(!resources.some((r) => kindOf(r) === kind), `dev (bare cluster) has no ${kind}`);
    }
    const config = dataOf(find(resources, 'ConfigMap', 'costwatch-config'));
    const secrets = dataOf(find(resources, 'Secret', 'costwatch-secrets'));
    assert.equal(config.AWS_ENDPOINT_URL, 'http://sim:4566');
    for (const key of Object.keys(config)) assert.ok(isKnownEnv(key), `costwatch-config ${key}`);
    const parsed = parseConfig('worker', { ...config, ...secrets });
    assert.equal(new URL(parsed.DATABASE_URL ?? '').hostname, 'postgres');
    assert.equal(new URL(parsed.REDIS_URL ?? '').hostname, 'redis');
    assert.equal(at(find(resources, 'Deployment', 'worker'), 'spec.replicas'), 1);
    for (const c of containersOf(find(resources, 'Deployment', 'api-gateway')))
      assert.equal(c.image, 'costwatch/costwatch:dev');
  });

  test('issue 12: restricted pod security, worker-only AWS egress, admin allowlist, TRUST_PROXY, no key for workers, prod read-only board', () => {
    ensureDevSecrets();
    for (const dir of [
      repoPath('k8s', 'base'),
      repoPath('k8s', 'overlays', 'dev'),
      repoPath('k8s', 'overlays', 'prod'),
    ]) {
      const { resources, tool } = kustomize(dir);
      assertConsistent(resources, `${dir} (${tool})`);
      const ns = strMap(at(find(resources, 'Namespace', 'costwatch'), 'metadata.labels'));
      assert.equal(
        ns['pod-security.kubernetes.io/enforce'],
        'restricted',
        `${dir}: namespace enforces restricted`,
      );
      // Every pod meets "restricted": non-root, seccomp RuntimeDefault, no escalation, ALL dropped.
      for (const w of resources.filter((r) => WORKLOAD_KINDS.has(kindOf(r)))) {
        const pod = podSpecs(w)[0] ?? {};
        assert.equal(at(pod, 'securityContext.runAsNonRoot'), true, `${nameOf(w)} runAsNonRoot`);
        assert.equal(
          at(pod, 'securityContext.seccompProfile.type'),
          'RuntimeDefault',
          `${nameOf(w)} seccomp`,
        );
        for (const c of containersOf(w)) {
          assert.equal(
            at(c, 'securityContext.allowPrivilegeEscalation'),
            false,
            `${nameOf(w)} no escalation`,
          );
          assert.deepEqual(at(c, 'securityContext.capabilities.drop'), ['ALL'], `${nameOf(w)} drops ALL`);
        }
      }
      // Only the api receives the JWT key.
      for (const name of ['worker', 'scheduler']) {
        const envNames = containersOf(find(resources, 'Deployment', name)).flatMap((c) =>
          objs(c.env ?? [], 'env').map((e) => e.name),
        );
        assert.ok(!envNames.includes('JWT_SECRET_KEY'), `${name} gets no JWT_SECRET_KEY`);
      }
      const config = dataOf(find(resources, 'ConfigMap', 'costwatch-config'));
      assert.equal(
        parseConfig('api', {
          ...config,
          DATABASE_URL: 'postgresql://u:p@h/d',
          REDIS_URL: 'redis://h:6379',
          JWT_SECRET_KEY: randomBytes(32).toString('base64'),
        }).TRUST_PROXY,
        1,
      );
      assert.equal(config.API_METRICS_PORT, '9464');
      assert.equal(
        config.BULL_BOARD_READ_ONLY,
        dir.endsWith('prod') ? 'true' : undefined,
        `${dir} BULL_BOARD_READ_ONLY`,
      );
      // AWS egress: workers only, 443, public addresses only (no metadata service, no private ranges).
      const aws = find(resources, 'NetworkPolicy', 'worker-egress-aws');
      assert.deepEqual(strMap(at(aws, 'spec.podSelector.matchLabels')), { app: 'worker' });
      const rule = objs(at(aws, 'spec.egress'), 'egress')[0] ?? {};
      assert.deepEqual(
        objs(rule.ports, 'ports').map((p) => p.port),
        [443],
      );
      const except = arr(at(objs(rule.to, 'to')[0], 'ipBlock.except'), 'except');
      for (const cidr of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16'])
        assert.ok(except.includes(cidr), `excludes ${cidr}`);
      const shared = find(resources, 'NetworkPolicy', 'costwatch-egress');
      const sharedPorts = objs(at(shared, 'spec.egress'), 'egress').flatMap((r) =>
        objs(r.ports ?? [], 'ports').map((p) => Number(p.port)),
      );
      assert.ok(!sharedPorts.includes(443), 'api/scheduler/migrate get no HTTPS egress');
      // /admin has its own Ingress with an IP allowlist; the public one redirects to HTTPS.
      const admin = find(resources, 'Ingress', 'costwatch-admin-ingress');
      assert.match(
        strMap(at(admin, 'metadata.annotations'))['nginx.ingress.kubernetes.io/whitelist-source-range'] ?? '',
        /^\d+\.\d+\.\d+\.\d+\/\d+/,
      );
      assert.match(JSON.stringify(at(admin, 'spec.rules')), /"path":"\/admin","pathType":"Prefix"/);
      const publicIngress = find(resources, 'Ingress', 'costwatch-ingress');
      assert.equal(
        strMap(at(publicIngress, 'metadata.annotations'))['nginx.ingress.kubernetes.io/force-ssl-redirect'],
        'true',
      );
    }
  });

  test('the built-in builder agrees with kustomize (when kubectl or kustomize is installed)', (t) => {
    const tool = kustomizeTool();
    if (!tool) {
      t.skip('no kustomize/kubectl: the built-in builder is the one in use');
      return;
    }
    ensureDevSecrets();
    const normalise = (resources: Obj[]): Map<string, Json> =>
      new Map(
        resources.map((r) => [
          keyOf(r),
          kindOf(r) === 'Secret' ? toJson({ ...r, data: dataOf(r), stringData: null }) : r,
        ]),
      );
    const hpaDir = withComponents(['k8s/components/hpa']);
    try {
      for (const dir of [
        repoPath('k8s', 'base'),
        repoPath('k8s', 'overlays', 'dev'),
        repoPath('k8s', 'overlays', 'prod'),
        hpaDir,
      ]) {
        const expected = normalise(kustomizeWithTool(tool, dir));
        const actual = normalise(builtinKustomize(dir));
        assert.deepEqual([...actual.keys()].sort(), [...expected.keys()].sort(), `${dir}: same objects`);
        for (const [key, value] of expected) assert.deepEqual(actual.get(key), value, `${dir}: ${key}`);
      }
    } finally {
      rmSync(hpaDir, { recursive: true, force: true });
    }
  });
});
