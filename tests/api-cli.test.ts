/** `costwatch user create | list | disable` through the real CLI, with the password on stdin. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';
import { findUserForLogin } from '../database/repositories/users.repository.js';
import { verifyPassword } from '../api/auth/passwords.js';

const BIN = fileURLToPath(new URL('../bin/costwatch.mjs', import.meta.url));
let db: TestDatabase;
let orgId: number;

function cli(
  args: string[],
  stdin: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

before(async () => {
  db = await createTestDatabase();
  const { rows } = await db.pool.query<{ id: number }>(
    `INSERT INTO organizations (name, aws_account_id) VALUES ('cli-org', '123456789012') RETURNING id`,
  );
  orgId = rows[0]?.id ?? 0;
});
after(async () => db.drop());

const create = (email: string, role: string, password: string, org = String(orgId)) =>
  cli(['user', 'create', '--org', org, '--email', email, '--role', role, '--bcrypt-cost', '4'], password);

test('user create reads the password from stdin, stores a bcrypt hash and prints the id', async () => {
  const res = await create('Ana@Example.com', 'admin', 'Tr0ub4dor&3-horse\n');
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^\d+\n$/);
  const user = await findUserForLogin(db.pool, 'ana@example.com');
  assert.equal(user?.id, Number(res.stdout.trim()));
  assert.equal(user?.role, 'admin');
  assert.match(user?.password_hash ?? '', /^\$2[aby]\$04\$/);
  assert.equal(
    await verifyPassword('Tr0ub4dor&3-horse', user?.password_hash ?? ''),
    true,
    'the trailing newline of echo is not part of the password',
  );
});

test('clear errors: weak password, duplicate email, bad role, bad email, unknown org', async () => {
  const weak = await create('weak@example.com', 'viewer', 'password1234\n');
  assert.equal(weak.code, 1);
  assert.match(weak.stderr, /common password/);
  const duplicate = await create('ana@example.com', 'viewer', 'An0ther-Good-Passphrase\n');
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /already exists/);
  const role = await create('role@example.com', 'superuser', 'An0ther-Good-Passphrase\n');
  assert.notEqual(role.code, 0);
  assert.match(role.stderr, /superuser.*(viewer|choices)/s);
  const email = await create('not-an-email', 'viewer', 'An0ther-Good-Passphrase\n');
  assert.equal(email.code, 1);
  assert.match(email.stderr, /--email: must be an email address/);
  const org = await create('org@example.com', 'viewer', 'An0ther-Good-Passphrase\n', '424242');
  assert.equal(org.code, 1);
  assert.match(org.stderr, /organization 424242 does not exist/);
  const { rows } = await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users');
  assert.equal(rows[0]?.n, 1, 'nothing else was created');
});

test('user list and user disable', async () => {
  const list = await cli(['user', 'list', '--org', String(orgId)], '');
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /ana@example\.com\s+admin\s+active/);
  const disable = await cli(['user', 'disable', '--email', 'ana@example.com'], '');
  assert.equal(disable.code, 0, disable.stderr);
  const after = await cli(['user', 'list', '--json'], '');
  const listed = JSON.parse(after.stdout) as Array<{ email: string; disabled_at: string | null }>;
  assert.equal(listed.find((u) => u.email === 'ana@example.com')?.disabled_at !== null, true);
  const missing = await cli(['user', 'disable', '--email', 'nobody@example.com'], '');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no user with email/);
});

test('org list --json and user list --json: one convention, a JSON array of snake_case objects', async () => {
  const orgs = await cli(['org', 'list', '--json'], '');
  assert.equal(orgs.code, 0, orgs.stderr);
  const orgRows = JSON.parse(orgs.stdout) as Array<Record<string, unknown>>;
  assert.ok(Array.isArray(orgRows) && orgRows.length > 0, orgs.stdout);
  const org = orgRows.find((o) => o.id === orgId);
  assert.ok(org, orgs.stdout);
  assert.equal(org.aws_account_id, '123456789012');
  for (const key of ['status', 'last_success_at', 'estimated_from', 'created_at'])
    assert.ok(key in org, `org has ${key}`);
  const users = await cli(['user', 'list', '--json'], '');
  assert.equal(users.code, 0, users.stderr);
  const userRows = JSON.parse(users.stdout) as Array<Record<string, unknown>>;
  assert.ok(Array.isArray(userRows) && userRows.length > 0, users.stdout);
  assert.ok('organization_id' in (userRows[0] ?? {}));
  for (const row of [...orgRows, ...userRows]) {
    for (const key of Object.keys(row)) assert.match(key, /^[a-z0-9_]+$/, `${key} is snake_case`);
  }
});
