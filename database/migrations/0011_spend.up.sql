-- Spend less on Cost Explorer (issue 14).
-- cost_full_reads: the months an organization re-read in full at bill close (the restatement probe
-- re-reads the previous month once, on BILL_CLOSE_DAY; afterwards it is final and never read again).
CREATE TABLE cost_full_reads (
  organization_id bigint NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  month           date NOT NULL,
  read_at         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (organization_id, month)
);

-- A fetch run stopped by CE_DAILY_REQUEST_CAP: its job resumes on the organization's next day.
ALTER TABLE fetch_runs DROP CONSTRAINT fetch_runs_status_check;
ALTER TABLE fetch_runs ADD CONSTRAINT fetch_runs_status_check
  CHECK (status IN ('running', 'succeeded', 'failed', 'retrying', 'throttled', 'interrupted', 'capped'));
