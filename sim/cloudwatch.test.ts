import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
  ListMetricsCommand,
  type CloudWatchClient,
  type GetMetricDataCommandInput,
  type Metric,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { listInstances } from './data.js';
import { parseDay } from './calendar.js';
import type { RunningSimulator } from './server.js';
import { accessKeyFor, cloudWatch, failure, startTestSimulator, TEST_TODAY } from './test-support.js';

const ACCOUNT = '222233334444';
const DAY_START = new Date(`${TEST_TODAY}T00:00:00Z`);
const YESTERDAY = new Date(DAY_START.getTime() - 86_400_000);

describe('CloudWatch through the real SDK', () => {
  let sim: RunningSimulator;
  let cw: CloudWatchClient;
  let metrics: Metric[] = [];
  before(async () => {
    sim = await startTestSimulator();
    cw = cloudWatch(sim, { accountId: ACCOUNT });
    metrics = (await cw.send(new ListMetricsCommand({}))).Metrics ?? [];
  });
  after(() => sim.close());

  it('lists EC2 and RDS metrics and pages ListMetrics to the same list', async () => {
    assert.ok(
      metrics.some(
        (m) =>
          m.Namespace === 'AWS/EC2' &&
          m.MetricName === 'CPUUtilization' &&
          m.Dimensions?.[0]?.Name === 'InstanceId',
      ),
    );
    assert.ok(
      metrics.some(
        (m) =>
          m.Namespace === 'AWS/RDS' &&
          m.MetricName === 'FreeableMemory' &&
          m.Dimensions?.[0]?.Name === 'DBInstanceIdentifier',
      ),
    );
    sim.control.setOptions({ listMetricsPageSize: 7 });
    try {
      const paged: Metric[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await cw.send(new ListMetricsCommand({ NextToken: token }));
        assert.ok((page.Metrics ?? []).length <= 7);
        paged.push(...(page.Metrics ?? []));
        token = page.NextToken;
        pages++;
      } while (token);
      assert.ok(pages > 3);
      assert.deepEqual(paged, metrics);
    } finally {
      sim.control.setOptions({ listMetricsPageSize: 500 });
    }
    const rds = await cw.send(
      new ListMetricsCommand({ Namespace: 'AWS/RDS', MetricName: 'DatabaseConnections' }),
    );
    assert.ok((rds.Metrics ?? []).length >= 1);
    for (const m of rds.Metrics ?? []) assert.equal(m.MetricName, 'DatabaseConnections');
  });

  it('answers GetMetricData batches, newest first by default, and honours ScanBy', async () => {
    const cpu = metrics.filter((m) => m.MetricName === 'CPUUtilization');
    const queries: MetricDataQuery[] = cpu.map((metric, i) => ({
      Id: `q${i}`,
      MetricStat: { Metric: metric, Period: 3600, Stat: 'Average' },
    }));
    const input: GetMetricDataCommandInput = {
      StartTime: YESTERDAY,
      EndTime: DAY_START,
      MetricDataQueries: queries,
    };
    const desc = await cw.send(new GetMetricDataCommand(input));
    const asc = await cw.send(new GetMetricDataCommand({ ...input, ScanBy: 'TimestampAscending' }));
    assert.equal(desc.MetricDataResults?.length, queries.length);
    const full = (desc.MetricDataResults ?? []).find((r) => r.Values?.length === 24);
    assert.ok(full, 'an instance running all day has 24 hourly points');
    assert.equal(full.StatusCode, 'Complete');
    const ts = (full.Timestamps ?? []).map((t) => t.getTime());
    assert.deepEqual(
      ts,
      [...ts].sort((a, b) => b - a),
    );
    assert.equal(ts[0], DAY_START.getTime() - 3_600_000);
    const ascFull = (asc.MetricDataResults ?? []).find((r) => r.Id === full.Id);
    assert.deepEqual(ascFull?.Values, [...(full.Values ?? [])].reverse());
    for (const v of full.Values ?? []) assert.ok(v >= 0 && v <= 100);
  });

  it('has no datapoints outside an instance lifetime (recent launches, stopped instances)', async () => {
    const fleet = listInstances(ACCOUNT, { todayIndex: parseDay(TEST_TODAY) ?? assert.fail('TEST_TODAY') });
    const stopped = fleet.find((i) => i.stoppedAt !== null && i.stoppedAt < YESTERDAY.getTime() / 1000);
    const recent = fleet.find((i) => i.launchedAt > DAY_START.getTime() / 1000 - 6 * 86_400);
    assert.ok(stopped && recent);
    const query = (id: string, namespace: string, dim: string, q: string): MetricDataQuery => ({
      Id: q,
      MetricStat: {
        Metric: {
          Namespace: namespace,
          MetricName: 'CPUUtilization',
          Dimensions: [{ Name: dim, Value: id }],
        },
        Period: 86_400,
        Stat: 'SampleCount',
      },
    });
    const out = await cw.send(
      new GetMetricDataCommand({
        StartTime: new Date(DAY_START.getTime() - 30 * 86_400_000),
        EndTime: DAY_START,
        ScanBy: 'TimestampAscending',
        MetricDataQueries: [
          query(stopped.id, stopped.namespace, stopped.dimensionName, 'stopped'),
          query(recent.id, recent.namespace, recent.dimensionName, 'recent'),
        ],
      }),
    );
    const byId = new Map((out.MetricDataResults ?? []).map((r) => [r.Id, r]));
    const lastStopped = byId.get('stopped')?.Timestamps?.at(-1)?.getTime() ?? 0;
    assert.ok(lastStopped < (stopped.stoppedAt ?? 0) * 1000 && lastStopped > 0);
    const firstRecent = byId.get('recent')?.Timestamps?.[0]?.getTime() ?? 0;
    assert.ok(firstRecent >= Math.floor(recent.launchedAt / 86_400) * 86_400_000);
    assert.ok((byId.get('recent')?.Values?.length ?? 99) <= 6);
  });

  it('pages GetMetricData by MaxDatapoints with PartialData and NextToken', async () => {
    const queries: MetricDataQuery[] = metrics
      .slice(0, 12)
      .map((metric, i) => ({ Id: `m${i}`, MetricStat: { Metric: metric, Period: 300, Stat: 'Maximum' } }));
    const input: GetMetricDataCommandInput = {
      StartTime: YESTERDAY,
      EndTime: DAY_START,
      MetricDataQueries: queries,
    };
    const whole = await cw.send(new GetMetricDataCommand(input));
    assert.equal(whole.NextToken, undefined);
    const collected = new Map<string, number[]>();
    let token: string | undefined;
    let calls = 0;
    let partial = 0;
    do {
      const page = await cw.send(
        new GetMetricDataCommand({ ...input, MaxDatapoints: 100, NextToken: token }),
      );
      const points = (page.MetricDataResults ?? []).reduce((n, r) => n + (r.Values?.length ?? 0), 0);
      assert.ok(points <= 100);
      for (const r of page.MetricDataResults ?? []) {
        collected.set(r.Id ?? '', [...(collected.get(r.Id ?? '') ?? []), ...(r.Values ?? [])]);
        if (r.StatusCode === 'PartialData') partial++;
      }
      token = page.NextToken;
      calls++;
    } while (token);
    assert.ok(calls > 3 && partial > 0);
    for (const r of whole.MetricDataResults ?? []) assert.deepEqual(collected.get(r.Id ?? ''), r.Values);
  });

  it('accepts 500 queries and rejects 501 without retrying', async () => {
    const metric = metrics[0];
    assert.ok(metric);
    const make = (n: number): MetricDataQuery[] =>
      Array.from({ length: n }, (_, i) => ({
        Id: `q${i}`,
        MetricStat: { Metric: metric, Period: 3600, Stat: 'Sum' },
      }));
    const ok = await cw.send(
      new GetMetricDataCommand({ StartTime: YESTERDAY, EndTime: DAY_START, MetricDataQueries: make(500) }),
    );
    assert.equal(ok.MetricDataResults?.length, 500);
    const error = await failure(
      cw.send(
        new GetMetricDataCommand({ StartTime: YESTERDAY, EndTime: DAY_START, MetricDataQueries: make(501) }),
      ),
    );
    assert.equal(error.name, 'InvalidParameterValueException');
    assert.match(error.message, /500/);
    assert.equal(error.$metadata.attempts, 1);
    const badId = await failure(
      cw.send(
        new GetMetricDataCommand({
          StartTime: YESTERDAY,
          EndTime: DAY_START,
          MetricDataQueries: [{ Id: 'Upper', MetricStat: { Metric: metric, Period: 60, Stat: 'Sum' } }],
        }),
      ),
    );
    assert.equal(badId.name, 'InvalidParameterValueException');
  });

  it('answers GetMetricStatistics consistently with GetMetricData and enforces 1,440 datapoints', async () => {
    const found = metrics.find((m) => m.Namespace === 'AWS/RDS' && m.MetricName === 'CPUUtilization');
    assert.ok(found?.Namespace && found.MetricName);
    const metric = { Namespace: found.Namespace, MetricName: found.MetricName, Dimensions: found.Dimensions };
    const stats = await cw.send(
      new GetMetricStatisticsCommand({
        ...metric,
        StartTime: YESTERDAY,
        EndTime: DAY_START,
        Period: 3600,
        Statistics: ['Average', 'Maximum', 'SampleCount'],
      }),
    );
    const data = await cw.send(
      new GetMetricDataCommand({
        StartTime: YESTERDAY,
        EndTime: DAY_START,
        ScanBy: 'TimestampAscending',
        MetricDataQueries: [{ Id: 'a', MetricStat: { Metric: metric, Period: 3600, Stat: 'Average' } }],
      }),
    );
    const points = stats.Datapoints ?? [];
    assert.equal(points.length, data.MetricDataResults?.[0]?.Values?.length);
    assert.deepEqual(
      points.map((p) => p.Average),
      data.MetricDataResults?.[0]?.Values,
    );
    for (const p of points) {
      assert.equal(p.Unit, 'Percent');
      assert.ok((p.Maximum ?? 0) >= (p.Average ?? 0));
      assert.equal(p.SampleCount, 60);
    }
    const tooMany = await failure(
      cw.send(
        new GetMetricStatisticsCommand({
          ...metric,
          StartTime: new Date(YESTERDAY.getTime() - 60_000),
          EndTime: DAY_START,
          Period: 60,
          Statistics: ['Average'],
        }),
      ),
    );
    assert.equal(tooMany.name, 'InvalidParameterCombinationException');
    assert.match(tooMany.message, /1,440/);
  });

  it('also speaks the older awsQuery form encoding', async () => {
    const body = new URLSearchParams({
      Action: 'ListMetrics',
      Version: '2010-08-01',
      Namespace: 'AWS/RDS',
      MetricName: 'FreeableMemory',
    });
    const response = await fetch(`${sim.url}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyFor(ACCOUNT)}/20260315/us-east-1/monitoring/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body,
    });
    const xml = await response.text();
    assert.equal(response.status, 200);
    assert.match(
      xml,
      /^<ListMetricsResponse xmlns="http:\/\/monitoring.amazonaws.com\/doc\/2010-08-01\/"><ListMetricsResult><Metrics><member>/,
    );
    assert.match(xml, /<MetricName>FreeableMemory<\/MetricName>/);
  });
});
