ALTER TABLE fetch_runs DROP COLUMN IF EXISTS public_error, DROP COLUMN IF EXISTS error_code;
DROP INDEX IF EXISTS organizations_platform_key;
DROP INDEX IF EXISTS organizations_external_id_key;
-- The platform organization (and its operators) cannot exist without kind.
DELETE FROM organizations WHERE kind = 'platform';
ALTER TABLE organizations
  DROP CONSTRAINT IF EXISTS organizations_kind_aws_check,
  DROP CONSTRAINT IF EXISTS organizations_self_identity_check,
  DROP CONSTRAINT IF EXISTS organizations_external_id_origin_check;
ALTER TABLE organizations ALTER COLUMN aws_account_id SET NOT NULL;
ALTER TABLE organizations
  DROP COLUMN IF EXISTS last_error_public_remedy,
  DROP COLUMN IF EXISTS last_error_public,
  DROP COLUMN IF EXISTS last_error_code,
  DROP COLUMN IF EXISTS self_identity,
  DROP COLUMN IF EXISTS external_id_source,
  DROP COLUMN IF EXISTS kind;
