/**
 * `http_requests_total{method,route,status}` and `http_request_duration_seconds` (lib/metrics.ts),
 * labelled with the matched route TEMPLATE; anything that matched no route is `unmatched`, so
 * scanners cannot blow up the label cardinality.
 */
import type { RequestHandler } from 'express';
import { httpDuration, httpRequests } from '../../lib/metrics.js';
import { routeTemplate, startedAt } from './request-context.js';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export function httpMetrics(): RequestHandler {
  return (req, res, next) => {
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const labels = {
        method: METHODS.has(req.method) ? req.method : 'OTHER',
        route: routeTemplate(req) ?? 'unmatched',
        status: String(res.headersSent ? res.statusCode : 499),
      };
      httpRequests.inc(labels);
      httpDuration.observe(labels, Number(process.hrtime.bigint() - startedAt(req)) / 1e9);
    };
    res.on('finish', record);
    res.on('close', record);
    next();
  };
}
