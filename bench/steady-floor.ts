/**
 * The floor of a steady refresh, measured in the same run: the rows the refresh loaded, reloaded by
 * `psql \copy` with the minimum statements a per-organization replace needs, on one connection:
 *   loads    per (org, source, contiguous window of loaded days): BEGIN; the loader lock + DELETE
 *            of the window (cw_clear_cost_window / cw_clear_metrics_window, what the pipeline
 *            calls); \copy of the rows; COMMIT;
 *   rollups  per org: cw_rebuild_cost_rollups and cw_rebuild_metric_rollups over the loaded days.
 * Nothing else: no AWS, no probe, no run ledger, no jobs, no forecast, budgets or anomalies. The
 * rows are exported (untimed) from what the refresh stored (created_at at or after its start) in
 * COPY text format, one file per window. CPU is psql's (bash `times`) plus its Postgres backend's
 * (/proc/<pid>/stat before and after); the wall time is one psql session doing it all in sequence.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { to as copyTo } from 'pg-copy-streams';
import type { BenchDatabase } from './support.js';

const COST_COLUMNS =
  'organization_id, cost_date, grouping, service, linked_account, region, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, dim_value, usage_unit';
const METRIC_COLUMNS = 'organization_id, ts, namespace, metric_name, resource_id, stat, value, unit';

export interface FloorPart {
  wallMs: number;
  /** psql's own CPU (user + system). */
  psqlCpuMs: number;
  /** The Postgres backend's CPU. */
  postgresCpuMs: number;
  statements: number;
}

export interface FloorResult {
  rows: { costs: number; metrics: number };
  windows: number;
  loads: FloorPart;
  rollups: FloorPart;
}

interface LoadedWindow {
  orgId: number;
  source: 'costs' | 'metrics';
  from: string;
  to: string;
  rows: number;
}

/** The windows of contiguous days whose rows were stored at or after `since` (a DB timestamp). */
async function loadedWindows(db: BenchDatabase, since: string): Promise<LoadedWindow[]> {
  const { rows } = await db.pool.query<LoadedWindow>(
    `WITH days AS (
       SELECT organization_id, 'costs'::text AS source, cost_date AS day, count(*) AS n
       FROM cost_data WHERE created_at >= $1::timestamptz GROUP BY 1, 3
       UNION ALL
       SELECT organization_id, 'metrics', (ts AT TIME ZONE 'UTC')::date, count(*)
       FROM cloudwatch_metrics WHERE created_at >= $1::timestamptz GROUP BY 1, 3
     ), runs AS (
       SELECT *, day - (row_number() OVER (PARTITION BY organization_id, source ORDER BY day))::int AS run
       FROM days
     )
     SELECT organization_id::int AS "orgId", source, min(day)::text AS "from", (max(day) + 1)::text AS "to",
            sum(n)::int AS rows
     FROM runs GROUP BY organization_id, source, run ORDER BY 1, 2, 3`,
    [since],
  );
  return rows;
}

async function exportWindow(db: BenchDatabase, w: LoadedWindow, since: string, file: string): Promise<void> {
  const client = await db.pool.connect();
  try {
    // COPY takes no bind parameters: every value here is a number or a date/timestamp of our own.
    const sql =
      w.source === 'costs'
        ? `COPY (SELECT ${COST_COLUMNS} FROM cost_data WHERE organization_id = ${w.orgId}
             AND cost_date >= '${w.from}' AND cost_date < '${w.to}' AND created_at >= '${since}') TO STDOUT`
        : `COPY (SELECT ${METRIC_COLUMNS} FROM cloudwatch_metrics WHERE organization_id = ${w.orgId}
             AND ts >= '${w.from}T00:00:00Z' AND ts < '${w.to}T00:00:00Z' AND created_at >= '${since}') TO STDOUT`;
    await pipeline(client.query(copyTo(sql)), createWriteStream(file));
  } finally {
    client.release();
  }
}

/** utime + stime in ms of a /proc/<pid>/stat snapshot. */
function statCpuMs(file: string): number {
  const stat = readFileSync(file, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/**
 * Runs a psql script on the benchmark database. psql's CPU comes from bash's `times`; its
 * backend's from /proc/<backend pid>/stat, read by psql itself (`\!`) before and after the script.
 */
async function runPsql(db: BenchDatabase, dir: string, name: string, body: string[]): Promise<FloorPart> {
  const script = path.join(dir, `${name}.sql`);
  const before = path.join(dir, `${name}.before.stat`);
  const after = path.join(dir, `${name}.after.stat`);
  writeFileSync(
    script,
    [
      'SELECT pg_backend_pid() AS backend \\gset',
      // \\! takes its line verbatim (no psql variables): the pid goes through the environment.
      '\\setenv CW_FLOOR_BACKEND :backend',
      `\\! cat /proc/$CW_FLOOR_BACKEND/stat > '${before}'`,
      ...body,
      `\\! cat /proc/$CW_FLOOR_BACKEND/stat > '${after}'`,
      '',
    ].join('\n'),
  );
  const started = performance.now();
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      'bash',
      ['-c', 'psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$2" >/dev/null && times', 'floor', db.url, script],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`psql floor exited with ${code}`)),
    );
  });
  const wallMs = performance.now() - started;
  // `times`: the shell's user/system, then its children's (psql): "0m0.123s 0m0.045s".
  const children = output.trim().split('\n')[1] ?? '';
  const seconds = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return {
    wallMs,
    psqlCpuMs: seconds.reduce((a, b) => a + b, 0) * 1000,
    postgresCpuMs: statCpuMs(after) - statCpuMs(before),
    statements:
      body.filter((line) => !line.startsWith('\\')).length +
      body.filter((l) => l.startsWith('\\copy')).length,
  };
}

/** Measures the floor of the refresh whose rows were stored at or after `since`. */
export async function measureFloor(db: BenchDatabase, since: string): Promise<FloorResult> {
  const windows = await loadedWindows(db, since);
  const dir = mkdtempSync(path.join(tmpdir(), 'cw-floor-'));
  try {
    const loads: string[] = [];
    for (const [i, w] of windows.entries()) {
      const file = path.join(dir, `${i}.copy`);
      await exportWindow(db, w, since, file);
      const clear = w.source === 'costs' ? 'cw_clear_cost_window' : 'cw_clear_metrics_window';
      const into =
        w.source === 'costs' ? `cost_data (${COST_COLUMNS})` : `cloudwatch_metrics (${METRIC_COLUMNS})`;
      loads.push(
        'BEGIN;',
        `SELECT ${clear}(${w.orgId}, '${w.from}', '${w.to}');`,
        `\\copy ${into} FROM '${file}'`,
        'COMMIT;',
      );
    }
    const rollups: string[] = [];
    const span = new Map<string, { from: string; to: string }>();
    for (const w of windows) {
      const key = `${w.orgId}|${w.source}`;
      const s = span.get(key);
      span.set(key, s ? { from: s.from < w.from ? s.from : w.from, to: s.to > w.to ? s.to : w.to } : w);
    }
    for (const [key, s] of span) {
      const [org, source] = key.split('|');
      const routine = source === 'costs' ? 'cw_rebuild_cost_rollups' : 'cw_rebuild_metric_rollups';
      rollups.push(`SELECT ${routine}(${org}, '${s.from}', '${s.to}');`);
    }
    const loadPart = await runPsql(db, dir, 'loads', loads);
    const rollupPart = await runPsql(db, dir, 'rollups', rollups);
    const sum = (s: 'costs' | 'metrics') =>
      windows.filter((w) => w.source === s).reduce((a, w) => a + w.rows, 0);
    return {
      rows: { costs: sum('costs'), metrics: sum('metrics') },
      windows: windows.length,
      loads: loadPart,
      rollups: rollupPart,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
