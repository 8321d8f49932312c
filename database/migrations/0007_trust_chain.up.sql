-- The AWS trust chain and tenant-safe errors (issue 12, items 3, 7 and 9).
--
-- organizations.kind: 'customer' (one AWS account, read by the pipeline) or 'platform' (the one
-- organization operators live in: no AWS account, never fetched).
-- external_id_source: 'costwatch' when CostWatch generated the external id (random, unique),
-- 'operator' when an operator chose it before CostWatch generated them (kept: the customer's role
-- trust policy names it). self_identity: the org is read with CostWatch's own AWS identity (no
-- role), which an operator asked for explicitly (`org create --self`).
ALTER TABLE organizations
  ADD COLUMN kind text NOT NULL DEFAULT 'customer' CHECK (kind IN ('customer', 'platform')),
  ADD COLUMN external_id_source text CHECK (external_id_source IN ('costwatch', 'operator')),
  ADD COLUMN self_identity boolean NOT NULL DEFAULT false,
  -- What a tenant may see of the last error: a stable code, a message and a remedy without
  -- CostWatch's principal, hostnames or SQL. last_error / last_error_remedy keep the full text
  -- for operators.
  ADD COLUMN last_error_code text,
  ADD COLUMN last_error_public text,
  ADD COLUMN last_error_public_remedy text;

-- Existing organizations. An external id an operator set stays: replacing it would break the
-- role's trust policy; it is marked 'operator' and `costwatch doctor` warns until
-- `costwatch org update --id N --rotate-external-id` replaces it. A role without an external id
-- stays without one (doctor warns). An organization without a role was read with CostWatch's own
-- identity: it keeps doing so, now explicitly (self_identity), and the account check after
-- GetCallerIdentity stops it if that identity is not in the organization's account.
UPDATE organizations SET external_id_source = 'operator' WHERE external_id IS NOT NULL;
UPDATE organizations SET self_identity = true WHERE role_arn IS NULL;

ALTER TABLE organizations ALTER COLUMN aws_account_id DROP NOT NULL;
ALTER TABLE organizations
  ADD CONSTRAINT organizations_external_id_origin_check CHECK ((external_id IS NULL) = (external_id_source IS NULL)),
  ADD CONSTRAINT organizations_self_identity_check CHECK (NOT (self_identity AND role_arn IS NOT NULL)),
  ADD CONSTRAINT organizations_kind_aws_check CHECK (
    (kind = 'customer' AND aws_account_id IS NOT NULL)
    OR (kind = 'platform' AND aws_account_id IS NULL AND role_arn IS NULL AND NOT self_identity));

-- Generated external ids are unique (legacy operator-set ids may repeat: they are left alone).
CREATE UNIQUE INDEX organizations_external_id_key ON organizations (external_id) WHERE external_id_source = 'costwatch';
-- At most one platform organization.
CREATE UNIQUE INDEX organizations_platform_key ON organizations (kind) WHERE kind = 'platform';

-- fetch_runs.error keeps the full text for operators; tenants see error_code and public_error.
ALTER TABLE fetch_runs
  ADD COLUMN error_code text,
  ADD COLUMN public_error text;
