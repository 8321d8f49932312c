-- The platform organization (operators) has no AWS account and is never fetched. Before this
-- release, `costwatch backfill --all` (which the demo runs) and an operator's POST
-- /ingestion/refresh without org_id queued fetches for it, and their failure marked it
-- access_denied. Give it back its active status and clear that error.
UPDATE organizations
   SET status = 'active', last_error = NULL, last_error_remedy = NULL, last_error_at = NULL,
       last_error_code = NULL, last_error_public = NULL, last_error_public_remedy = NULL
 WHERE kind = 'platform' AND status = 'access_denied';
