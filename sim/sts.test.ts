import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { GetCostAndUsageCommand } from '@aws-sdk/client-cost-explorer';
import { AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import { issueCredentials } from './identity.js';
import type { RunningSimulator } from './server.js';
import { costExplorer, failure, startTestSimulator, sts } from './test-support.js';

const ORG = '210987654321';
const ROLE = `arn:aws:iam::${ORG}:role/CostWatchReadOnly`;

describe('STS AssumeRole through the real SDK', () => {
  let sim: RunningSimulator;
  before(async () => {
    sim = await startTestSimulator();
    sim.control.registerExternalId(ORG, 'cw-external-42');
  });
  after(() => sim.close());

  it('issues temporary credentials for the role account with the right external id', async () => {
    const before = Date.now();
    const out = await sts(sim).send(
      new AssumeRoleCommand({
        RoleArn: ROLE,
        RoleSessionName: 'costwatch-fetch',
        ExternalId: 'cw-external-42',
        DurationSeconds: 1800,
      }),
    );
    const creds = out.Credentials;
    assert.ok(creds?.AccessKeyId && creds.SecretAccessKey && creds.SessionToken && creds.Expiration);
    assert.match(creds.AccessKeyId, new RegExp(`^ASIA${ORG}[A-Z2-7]{4}$`));
    assert.equal(creds.SecretAccessKey.length, 40);
    // Expiration is whole seconds after the simulator received the request, which on a loaded
    // machine can be well after `before`.
    const elapsed = Date.now() - before;
    const expiresIn = creds.Expiration.getTime() - before;
    assert.ok(
      expiresIn > 1790_000 && expiresIn <= 1801_000 + elapsed,
      `expires in ${expiresIn} ms (request took ${elapsed} ms)`,
    );
    assert.equal(
      out.AssumedRoleUser?.Arn,
      `arn:aws:sts::${ORG}:assumed-role/CostWatchReadOnly/costwatch-fetch`,
    );

    // The temporary credentials make later calls belong to the role account.
    sim.control.resetCounts();
    const credentials = {
      accessKeyId: creds.AccessKeyId,
      secretAccessKey: creds.SecretAccessKey,
      sessionToken: creds.SessionToken,
    };
    const who = await sts(sim, { credentials }).send(new GetCallerIdentityCommand({}));
    assert.equal(who.Account, ORG);
    await costExplorer(sim, { credentials }).send(
      new GetCostAndUsageCommand({
        TimePeriod: { Start: '2026-03-01', End: '2026-03-02' },
        Granularity: 'DAILY',
        Metrics: ['UnblendedCost'],
      }),
    );
    assert.equal(sim.control.requestCounts().byAccount[ORG]?.['ce:GetCostAndUsage'], 1);
  });

  it('defaults the session length and honours the role maximum', async () => {
    const out = await sts(sim).send(
      new AssumeRoleCommand({
        RoleArn: ROLE,
        RoleSessionName: 'default-length',
        ExternalId: 'cw-external-42',
      }),
    );
    const expiresIn = (out.Credentials?.Expiration?.getTime() ?? 0) - Date.now();
    assert.ok(expiresIn > 3590_000 && expiresIn <= 3601_000);
    const tooLong = await failure(
      sts(sim).send(
        new AssumeRoleCommand({
          RoleArn: ROLE,
          RoleSessionName: 's',
          ExternalId: 'cw-external-42',
          DurationSeconds: 50_000,
        }),
      ),
    );
    assert.equal(tooLong.name, 'ValidationError');
  });

  it('denies a missing or wrong external id exactly as STS does, without retrying', async () => {
    for (const ExternalId of [undefined, 'wrong-id']) {
      const error = await failure(
        sts(sim).send(new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'costwatch', ExternalId })),
      );
      assert.equal(error.name, 'AccessDenied');
      assert.equal(error.$metadata.httpStatusCode, 403);
      assert.equal(error.$metadata.attempts, 1);
      assert.match(
        error.message,
        /is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role\/CostWatchReadOnly/,
      );
    }
  });

  it('rejects malformed role ARNs and denies access-denied accounts', async () => {
    const bad = await failure(
      sts(sim).send(
        new AssumeRoleCommand({
          RoleArn: 'arn:aws:iam::12345:role/x-too-short-account',
          RoleSessionName: 'costwatch',
        }),
      ),
    );
    assert.equal(bad.name, 'ValidationError');
    const user = await failure(
      sts(sim).send(
        new AssumeRoleCommand({
          RoleArn: 'arn:aws:iam::333344445555:user/not-a-role',
          RoleSessionName: 'costwatch',
        }),
      ),
    );
    assert.equal(user.name, 'ValidationError');
    sim.control.setOptions({ accessDeniedAccounts: ['333344445555'] });
    try {
      const denied = await failure(
        sts(sim).send(
          new AssumeRoleCommand({
            RoleArn: 'arn:aws:iam::333344445555:role/CostWatch',
            RoleSessionName: 'costwatch',
          }),
        ),
      );
      assert.equal(denied.name, 'AccessDenied');
    } finally {
      sim.control.setOptions({ accessDeniedAccounts: [] });
    }
  });

  it('rejects expired session credentials with ExpiredTokenException', async () => {
    const expired = issueCredentials(ORG, ROLE, Date.now() - 1000, 1, 'test');
    const credentials = {
      accessKeyId: expired.AccessKeyId,
      secretAccessKey: expired.SecretAccessKey,
      sessionToken: expired.SessionToken,
    };
    const error = await failure(
      costExplorer(sim, { credentials }).send(
        new GetCostAndUsageCommand({
          TimePeriod: { Start: '2026-03-01', End: '2026-03-02' },
          Granularity: 'DAILY',
          Metrics: ['UnblendedCost'],
        }),
      ),
    );
    assert.equal(error.name, 'ExpiredTokenException');
  });
});

describe('STS trust checks and endless paging (knobs of the CostWatch trust-chain tests)', () => {
  let sim: RunningSimulator;
  before(async () => {
    sim = await startTestSimulator();
  });
  after(() => sim.close());

  it('a role can require its own external id (per role ARN, winning over the account); others accept any', async () => {
    const strict = `arn:aws:iam::${ORG}:role/Strict`;
    sim.control.registerExternalId(strict, 'role-specific');
    sim.control.registerExternalId(ORG, 'account-wide');
    const assume = (RoleArn: string, ExternalId?: string) =>
      sts(sim).send(
        new AssumeRoleCommand({
          RoleArn,
          RoleSessionName: 'costwatch-org-7',
          ...(ExternalId ? { ExternalId } : {}),
        }),
      );
    assert.equal((await failure(assume(strict, 'account-wide'))).name, 'AccessDenied');
    assert.ok((await assume(strict, 'role-specific')).Credentials);
    assert.equal((await failure(assume(ROLE, 'role-specific'))).name, 'AccessDenied');
    assert.ok((await assume(ROLE, 'account-wide')).Credentials);
    assert.ok((await assume('arn:aws:iam::111122223333:role/Open', 'cw-anything-generated')).Credentials);
  });

  it('GetCallerIdentity names the session ARN of an assumed role', async () => {
    sim.control.setOptions({ externalIds: {} });
    const out = await sts(sim).send(
      new AssumeRoleCommand({ RoleArn: ROLE, RoleSessionName: 'costwatch-org-9' }),
    );
    const c = out.Credentials;
    assert.ok(c?.AccessKeyId && c.SecretAccessKey && c.SessionToken);
    const who = await sts(sim, {
      credentials: {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
      },
    }).send(new GetCallerIdentityCommand({}));
    assert.equal(who.Account, ORG);
    assert.equal(who.Arn, `arn:aws:sts::${ORG}:assumed-role/CostWatchReadOnly/costwatch-org-9`);
  });

  it('endlessPagingAccounts: every page carries a fresh token, pages after the first are empty', async () => {
    sim.control.setOptions({ endlessPagingAccounts: ['111122223333'] });
    const ce = costExplorer(sim);
    const input = {
      TimePeriod: { Start: '2026-03-01', End: '2026-03-02' },
      Granularity: 'DAILY' as const,
      Metrics: ['UnblendedCost'],
    };
    const tokens = new Set<string>();
    let token: string | undefined;
    for (let i = 0; i < 4; i++) {
      const page = await ce.send(
        new GetCostAndUsageCommand({ ...input, ...(token ? { NextPageToken: token } : {}) }),
      );
      assert.ok(page.NextPageToken && !tokens.has(page.NextPageToken));
      tokens.add(page.NextPageToken);
      if (i > 0) assert.deepEqual(page.ResultsByTime, []);
      token = page.NextPageToken;
    }
    sim.control.setOptions({ endlessPagingAccounts: [] });
    assert.equal((await ce.send(new GetCostAndUsageCommand(input))).NextPageToken, undefined);
  });
});
