ALTER TABLE fetch_runs DROP COLUMN IF EXISTS ce_pages_reused;
DROP TABLE IF EXISTS ce_page_checkpoints;
