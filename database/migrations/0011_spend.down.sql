UPDATE fetch_runs SET status = 'throttled' WHERE status = 'capped';
ALTER TABLE fetch_runs DROP CONSTRAINT fetch_runs_status_check;
ALTER TABLE fetch_runs ADD CONSTRAINT fetch_runs_status_check
  CHECK (status IN ('running', 'succeeded', 'failed', 'retrying', 'throttled', 'interrupted'));
DROP TABLE IF EXISTS cost_full_reads;
