/** /ingestion: pipeline status and AWS usage, the fetch-run ledger, and the refresh-now action. */
import {
  findOrganizationIngestion,
  ingestionUsageSince,
  listFetchRuns,
} from '../../database/repositories/ingestion.repository.js';
import { findForecastRefresh } from '../../database/repositories/forecast-refreshes.repository.js';
import { AWS_REQUEST_PRICE_DOLLARS } from '../../lib/metrics.js';
import { shownRunError } from '../../lib/tenant-errors.js';
import { toIsoDate } from '../../lib/dates.js';
import { enqueueOrgRefresh } from '../../producers/enqueue.js';
import { ApiError, notFound } from '../errors.js';
import { orgRoute, type Route } from '../routing.js';
import { asMoney } from './common.schema.js';
import {
  encodeRunCursor,
  refreshBody,
  refreshQuery,
  refreshResponse,
  runsQuery,
  runsResponse,
  statusQuery,
  statusResponse,
} from './ingestion.schema.js';

const DAY_MS = 86_400_000;

export const ingestionRoutes: Route[] = [
  orgRoute({
    method: 'get',
    path: '/ingestion/status',
    tag: 'ingestion',
    summary:
      "The organization's pipeline status, last success, last error with its remedy, its daily forecast's status, and AWS usage",
    description:
      'The cost data status (organization) and the forecast status (forecast) are separate: a failed forecast retries ' +
      'on its own and never holds back the cost data. Runs, rows loaded and AWS requests (per operation, the ' +
      "forecast's included) of the last 24 hours and 30 days, with their estimated cost ($0.01 per Cost Explorer " +
      'request). Not cached: it reflects fetches as they happen.',
    query: statusQuery,
    response: statusResponse,
    async handler({ app, orgId, now, principal }) {
      const org = await findOrganizationIngestion(app.db, orgId);
      if (!org) throw notFound('organization');
      // Operators get the full text; tenants a code and a message without CostWatch's internals.
      const full = principal.role === 'operator';
      const since24h = new Date(now.getTime() - DAY_MS);
      const since30d = new Date(now.getTime() - 30 * DAY_MS);
      const startOfDay = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      const startOfMonth = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
      const [day, month, forecast, today, thisMonth] = await Promise.all([
        ingestionUsageSince(app.db, { orgId, since: since24h, prices: AWS_REQUEST_PRICE_DOLLARS }),
        ingestionUsageSince(app.db, { orgId, since: since30d, prices: AWS_REQUEST_PRICE_DOLLARS }),
        findForecastRefresh(app.db, orgId),
        ingestionUsageSince(app.db, { orgId, since: startOfDay, prices: AWS_REQUEST_PRICE_DOLLARS }),
        ingestionUsageSince(app.db, { orgId, since: startOfMonth, prices: AWS_REQUEST_PRICE_DOLLARS }),
      ]);
      const ceSpend = (since: Date, u: typeof day) => {
        const requests = Object.entries(u.aws_requests_by_operation)
          .filter(([operation]) => AWS_REQUEST_PRICE_DOLLARS[operation] !== undefined)
          .reduce((sum, [, n]) => sum + n, 0);
        return {
          since: since.toISOString(),
          ce_requests: requests,
          estimated_aws_cost: asMoney(u.estimated_aws_cost, 'USD'),
        };
      };
      const cap = app.config.CE_DAILY_REQUEST_CAP;
      const spentToday = ceSpend(startOfDay, today);
      const forecastMoney = (amount: string | null) =>
        amount === null || forecast === null ? null : asMoney(amount, forecast.unit ?? 'USD');
      const usage = (since: Date, u: typeof day) => ({
        since: since.toISOString(),
        runs: u.runs,
        failed_runs: u.failed_runs,
        rows_loaded: u.rows_loaded,
        aws_requests: u.aws_requests,
        aws_requests_by_operation: u.aws_requests_by_operation,
        estimated_aws_cost: asMoney(u.estimated_aws_cost, 'USD'),
      });
      return {
        organization: {
          id: org.id,
          name: org.name,
          status: org.status,
          last_success_at: org.last_success_at?.toISOString() ?? null,
          estimated_from: org.estimated_from,
          last_error:
            org.last_error === null
              ? null
              : {
                  code: org.last_error_code ?? 'internal',
                  message: full
                    ? org.last_error
                    : (org.last_error_public ??
                      'the pipeline stopped; your CostWatch operator can see the details'),
                  remedy: full ? org.last_error_remedy : org.last_error_public_remedy,
                  at: org.last_error_at?.toISOString() ?? null,
                },
        },
        forecast:
          forecast === null
            ? null
            : {
                status: forecast.status,
                day: forecast.forecast_day,
                attempts: forecast.attempts,
                updated_at: forecast.updated_at.toISOString(),
                last_success_at: forecast.last_success_at?.toISOString() ?? null,
                last_error:
                  forecast.last_error === null
                    ? null
                    : { message: forecast.last_error, at: forecast.last_error_at?.toISOString() ?? null },
                period:
                  forecast.period_start !== null && forecast.period_end !== null
                    ? { from: forecast.period_start, to: forecast.period_end }
                    : null,
                mean: forecastMoney(forecast.mean),
                lower_bound: forecastMoney(forecast.lower_bound),
                upper_bound: forecastMoney(forecast.upper_bound),
              },
        usage: { last_24h: usage(since24h, day), last_30d: usage(since30d, month) },
        ce_budget: {
          daily_request_cap: cap,
          capped: cap > 0 && spentToday.ce_requests >= cap,
          today: spentToday,
          this_month: ceSpend(startOfMonth, thisMonth),
        },
      };
    },
  }),
  orgRoute({
    method: 'get',
    path: '/ingestion/runs',
    tag: 'ingestion',
    summary: 'Fetch runs, newest first (started_at desc, id desc), cursor-paginated',
    query: runsQuery,
    response: runsResponse,
    async handler({ app, orgId, query, principal }) {
      const full = principal.role === 'operator';
      const rows = await listFetchRuns(app.db, {
        orgId,
        after: query.cursor ?? null,
        source: query.source ?? null,
        status: query.status ?? null,
        limit: query.limit,
      });
      const more = rows.length > query.limit;
      const items = more ? rows.slice(0, query.limit) : rows;
      const last = items[items.length - 1];
      return {
        organization_id: orgId,
        items: items.map((r) => ({
          id: r.id,
          source: r.source,
          window_start: r.window_start,
          window_end: r.window_end,
          status: r.status,
          trigger: r.trigger,
          job_id: r.job_id,
          attempt: r.attempt,
          backfill_id: r.backfill_id,
          rows_loaded: r.rows_loaded,
          aws_requests: r.aws_requests,
          aws_requests_by_operation: r.aws_requests_by_operation,
          started_at: r.started_at.toISOString(),
          finished_at: r.finished_at?.toISOString() ?? null,
          duration_ms: r.duration_ms,
          ...(() => {
            const shown = shownRunError(r);
            return { error: full ? r.error : shown.message, error_code: shown.code };
          })(),
        })),
        limit: query.limit,
        next_cursor: more && last ? encodeRunCursor({ startedAt: last.started_at_key, id: last.id }) : null,
      };
    },
  }),
  orgRoute({
    method: 'post',
    path: '/ingestion/refresh',
    tag: 'ingestion',
    summary: 'Fetch the organization’s changeable cost and metrics windows now (admin or operator)',
    description:
      'Enqueues the refresh windows (restatement days, current month, previous month until its bill closes) with ' +
      'the same dedupe ids as the scheduler, so repeated clicks do not queue duplicates. Answers 202. One refresh per ' +
      'organization per REFRESH_COOLDOWN_SECONDS (each bills Cost Explorer requests): 429 with Retry-After until then. ' +
      'A disabled organization, and the platform organization (operators; no AWS account), answer 409.',
    status: 202,
    errors: [403, 409, 429],
    roles: ['admin', 'operator'],
    query: refreshQuery,
    body: refreshBody,
    response: refreshResponse,
    async handler({ app, orgId, now }) {
      const org = await findOrganizationIngestion(app.db, orgId);
      if (!org) throw notFound('organization');
      if (org.kind === 'platform') {
        throw new ApiError(
          'conflict',
          'the platform organization has no AWS account: there is nothing to refresh; give a customer organization (org_id)',
        );
      }
      if (org.status === 'disabled') {
        throw new ApiError(
          'conflict',
          'the organization is disabled; an operator must enable it before refreshing',
        );
      }
      await app.refreshCooldown.claim(org.id);
      const windows = await enqueueOrgRefresh(
        app.queues,
        { id: org.id, estimatedFrom: org.estimated_from },
        toIsoDate(now),
        app.config,
        'manual',
      ).catch(async (error: unknown) => {
        await app.refreshCooldown.release(org.id).catch(() => undefined);
        throw error;
      });
      return { organization_id: org.id, trigger: 'manual' as const, enqueued: windows };
    },
  }),
];
