/**
 * ce_page_checkpoints (migration 0014): the GetCostAndUsage pages a cost job got, kept as they
 * arrive so a retry of the same job reuses them instead of asking AWS again
 * (workers/page-checkpoints.ts).
 */
import type { Queryable } from '../../lib/db.js';

/** Which job's read of which window: checkpoints are only ever reused by the same job. */
export interface CheckpointScope {
  orgId: number;
  jobId: string;
  window: { from: string; to: string };
}

/** One kept page: its query key, the token it was requested with ('' first page), the answer as JSON text. */
export interface StoredPage {
  query: string;
  pageToken: string;
  page: string;
}

// savedPages: the pages a job kept for a window that are younger than `maxAgeSeconds`.
// Params: org id, window, job id, max age in seconds.
export async function savedPages(
  db: Queryable,
  scope: CheckpointScope,
  maxAgeSeconds: number,
): Promise<StoredPage[]> {
  const { rows } = await db.query<StoredPage>(
    `SELECT query, page_token AS "pageToken", page::text AS page FROM ce_page_checkpoints
      WHERE organization_id = $1 AND window_start = $2::date AND window_end = $3::date AND job_id = $4
        AND created_at > now() - make_interval(secs => $5)`,
    [scope.orgId, scope.window.from, scope.window.to, scope.jobId, maxAgeSeconds],
  );
  return rows;
}

// savePage: keeps one page as it arrives (a page sent again after its checkpoint expired replaces it).
// Params: org id, window, job id, query key, page token, the page as JSON text.
export async function savePage(db: Queryable, scope: CheckpointScope, page: StoredPage): Promise<void> {
  await db.query(
    `INSERT INTO ce_page_checkpoints (organization_id, window_start, window_end, job_id, query, page_token, page)
     VALUES ($1, $2::date, $3::date, $4, $5, $6, $7::json)
     ON CONFLICT (organization_id, window_start, window_end, job_id, query, page_token)
     DO UPDATE SET page = excluded.page, created_at = now()`,
    [scope.orgId, scope.window.from, scope.window.to, scope.jobId, page.query, page.pageToken, page.page],
  );
}

// discardPages: deletes a job's pages of a window (a kept page token AWS refused: read it afresh).
// Params: org id, window, job id.
export async function discardPages(db: Queryable, scope: CheckpointScope): Promise<void> {
  await db.query(
    `DELETE FROM ce_page_checkpoints
      WHERE organization_id = $1 AND window_start = $2::date AND window_end = $3::date AND job_id = $4`,
    [scope.orgId, scope.window.from, scope.window.to, scope.jobId],
  );
}

// clearPagesAtCommit: inside the transaction that commits a window's load, deletes every kept page
// of that window (whatever job kept it: the commit made them obsolete) and the org's pages older
// than `maxAgeSeconds` (jobs that died or failed for good), and adds the pages the load reused to
// its run. Params: org id, window, max age in seconds, run id, pages reused.
export async function clearPagesAtCommit(
  tx: Queryable,
  orgId: number,
  window: { from: string; to: string },
  maxAgeSeconds: number,
  run: { runId: number; pagesReused: number },
): Promise<void> {
  await tx.query(
    `WITH cleared AS (
       DELETE FROM ce_page_checkpoints
        WHERE organization_id = $1
          AND ((window_start = $2::date AND window_end = $3::date) OR created_at < now() - make_interval(secs => $4)))
     UPDATE fetch_runs SET ce_pages_reused = ce_pages_reused + $6 WHERE id = $5 AND $6 > 0`,
    [orgId, window.from, window.to, maxAgeSeconds, run.runId, run.pagesReused],
  );
}
