/**
 * HTTP control API under `/_sim/` (a path AWS never uses), JSON in and out:
 *   GET  /_sim/health                      liveness
 *   GET  /_sim/options                     current options
 *   PATCH|POST|PUT /_sim/options           merge a partial update (400 lists problems)
 *   GET  /_sim/requests[?timestamps=1]     request counters
 *   DELETE /_sim/requests, POST /_sim/requests/reset   reset counters
 *   GET|POST /_sim/external-ids            list / register {accountId, externalId}
 *   DELETE /_sim/external-ids/{accountId}  forget an external id
 *   GET|PUT|POST /_sim/today               read / set {today: "YYYY-MM-DD" | null}; answers today and now
 *   POST /_sim/reset                       restore start options, clear counters
 *   GET  /_sim/truth/daily-total?account=&day=[&metric=]   final ungrouped daily total
 *   GET  /_sim/truth/instances?account=    the account's EC2/RDS fleet
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { expectedDailyTotal } from './cost-data.js';
import { listInstances } from './metric-data.js';
import type { SimulatorState } from './state.js';

export const CONTROL_PREFIX = '/_sim/';

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return {};
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function problemsOf(error: unknown): string[] {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n').slice(1);
}

export function handleControl(
  state: SimulatorState,
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
): void {
  const url = new URL(req.url ?? '/', 'http://sim');
  const path = url.pathname.slice(CONTROL_PREFIX.length).replace(/\/+$/, '');
  const method = req.method ?? 'GET';
  const json = parseJson(body);
  if (json === undefined) return send(res, 400, { error: 'body must be a JSON object' });

  const update = (partial: Record<string, unknown>): void => {
    try {
      send(res, 200, state.setOptions(partial));
    } catch (error) {
      send(res, 400, { error: 'invalid options', problems: problemsOf(error) });
    }
  };

  if (path === 'health' && method === 'GET') return send(res, 200, { status: 'ok', today: state.today() });
  if (path === 'options') {
    if (method === 'GET') return send(res, 200, state.options());
    if (method === 'PATCH' || method === 'POST' || method === 'PUT') return update(json);
  }
  if (path === 'requests') {
    if (method === 'GET') {
      const withTimestamps = ['1', 'true'].includes(url.searchParams.get('timestamps') ?? '');
      return send(res, 200, state.requestCounts({ timestamps: withTimestamps }));
    }
    if (method === 'DELETE') {
      state.resetCounts();
      return send(res, 200, state.requestCounts());
    }
  }
  if (path === 'requests/reset' && method === 'POST') {
    state.resetCounts();
    return send(res, 200, state.requestCounts());
  }
  if (path === 'external-ids') {
    if (method === 'GET') return send(res, 200, state.current.externalIds);
    if (method === 'POST' || method === 'PUT') {
      const { accountId, externalId } = json;
      if (typeof accountId !== 'string' || typeof externalId !== 'string') {
        return send(res, 400, {
          error: 'invalid body',
          problems: ['accountId and externalId: strings required'],
        });
      }
      return update({ externalIds: { ...state.current.externalIds, [accountId]: externalId } });
    }
  }
  if (path.startsWith('external-ids/') && method === 'DELETE') {
    const account = decodeURIComponent(path.slice('external-ids/'.length));
    const rest = Object.fromEntries(Object.entries(state.current.externalIds).filter(([k]) => k !== account));
    return update({ externalIds: rest });
  }
  if (path === 'today') {
    const answer = () => ({
      today: state.today(),
      now: state.now().toISOString(),
      configured: state.current.today,
    });
    if (method === 'GET') return send(res, 200, answer());
    if (method === 'PUT' || method === 'POST') {
      try {
        state.setToday((json.today ?? null) as string | null);
        return send(res, 200, answer());
      } catch (error) {
        return send(res, 400, { error: 'invalid today', problems: problemsOf(error) });
      }
    }
  }
  if (path === 'reset' && method === 'POST') {
    state.reset();
    return send(res, 200, state.options());
  }
  if (path === 'truth/daily-total' && method === 'GET') {
    const account = url.searchParams.get('account') ?? state.current.defaultAccountId;
    const day = url.searchParams.get('day') ?? state.today();
    const metric = url.searchParams.get('metric') ?? 'UnblendedCost';
    try {
      const amount = expectedDailyTotal(account, day, metric, {
        dataSeed: state.current.dataSeed,
        injections: state.current.costInjections,
      });
      return send(res, 200, { account, day, metric, amount });
    } catch (error) {
      return send(res, 400, { error: error instanceof Error ? error.message : String(error) });
    }
  }
  if (path === 'truth/instances' && method === 'GET') {
    const account = url.searchParams.get('account') ?? state.current.defaultAccountId;
    return send(
      res,
      200,
      listInstances(account, { dataSeed: state.current.dataSeed, todayIndex: state.todayIndex() }),
    );
  }
  send(res, 404, { error: `no control endpoint ${method} /_sim/${path}` });
}
