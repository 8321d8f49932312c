-- A window that fails part-way does not re-read what it already got (issue 14).
-- ce_page_checkpoints: every GetCostAndUsage page a cost job received, kept as it arrives, so a
-- retry of the same job (same BullMQ job id, org and window: the stalled job whichever worker picks
-- it up, or the next attempt after an error) reuses the answers instead of asking (and paying) AWS
-- again. `query` names the grouping and a hash of the request without its page token; `page_token`
-- is the token the page was requested with ('' for the first page). Deleted in the transaction that
-- commits the window's load; pages older than CE_PAGE_CHECKPOINT_SECONDS are never reused and are
-- deleted by the org's next load. UNLOGGED: a cache of answers, not data (a Postgres crash empties
-- it and costs only the re-reads), so its writes add no WAL to a load.
CREATE UNLOGGED TABLE ce_page_checkpoints (
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  window_start    date NOT NULL,
  window_end      date NOT NULL,
  job_id          text NOT NULL,
  query           text NOT NULL,
  page_token      text NOT NULL,
  page            json NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, window_start, window_end, job_id, query, page_token)
);

-- Pages of the run answered from checkpoints of an earlier attempt: not sent, not billed, and not
-- in aws_requests / aws_requests_by_operation (which say what the run sent).
ALTER TABLE fetch_runs ADD COLUMN ce_pages_reused integer NOT NULL DEFAULT 0;
