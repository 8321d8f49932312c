/**
 * GET /costs/export: one organization's daily rollup rows of a dimension as CSV or FOCUS 1.2,
 * streamed from Postgres's COPY TO STDOUT to the socket with back-pressure (memory stays flat),
 * gzip-compressed when the client accepts it, as an attachment. Not cached.
 */
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Request, Response } from 'express';
import { streamCostExport } from '../../database/repositories/export.repository.js';
import { FOCUS_SERVICE_CATEGORIES } from '../../lib/focus.js';
import type { ApiContext } from '../context.js';
import { authenticate, requireRole, resolveOrganization } from '../middleware/auth.js';
import { parseInput, type Route } from '../routing.js';
import { exportQuery, exportResponse } from './export.schema.js';

/** A file name part: letters, digits, dot, dash and underscore only. */
function safe(part: string): string {
  return part.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
}

async function handleExport(app: ApiContext, req: Request, res: Response): Promise<void> {
  const principal = await authenticate(app, req);
  requireRole(principal, null);
  const query = parseInput(exportQuery, req.query, 'query');
  const orgId = await resolveOrganization(app, principal, query.org_id);
  const exp = await streamCostExport(app.db, {
    orgId,
    dimension: query.group_by,
    from: query.from,
    to: query.to,
    format: query.format,
    serviceCategories: FOCUS_SERVICE_CATEGORIES,
  });
  const gzip = req.acceptsEncodings('gzip', 'identity') === 'gzip';
  res.status(200);
  res.setHeader('Content-Type', 'text/csv; charset=utf-8');
  res.setHeader(
    'Content-Disposition',
    `attachment; filename="costwatch-${orgId}-${query.from}-${query.to}-${safe(query.group_by)}${query.format === 'focus' ? '-focus' : ''}.csv"`,
  );
  res.setHeader('Vary', 'Accept-Encoding');
  if (gzip) res.setHeader('Content-Encoding', 'gzip');
  try {
    if (gzip) await pipeline(exp.stream, createGzip({ level: 6 }), res);
    else await pipeline(exp.stream, res);
    await exp.done();
  } catch (error) {
    await exp.done(error);
    // Headers (and rows) are out: the client sees a cut-off body, never a 200 that claims to be complete.
    if (!res.headersSent) throw error;
    app.log.warn({ err: error, orgId }, 'cost export aborted');
    res.destroy();
  }
}

export const exportRoutes: Route[] = [
  {
    method: 'get',
    path: '/costs/export',
    summary: 'Export daily costs of a dimension as CSV or FOCUS 1.2 (streamed; gzip on Accept-Encoding)',
    description:
      'One row per day, service and value of group_by (group_by=service: per day and service), exact amounts. ' +
      'text/csv with Content-Disposition: attachment. Range at most 400 days. See docs/EXPORTS.md.',
    tag: 'costs',
    status: 200,
    errors: [],
    secured: true,
    roles: null,
    cached: false,
    query: exportQuery,
    body: null,
    response: exportResponse,
    handle: handleExport,
  },
];
