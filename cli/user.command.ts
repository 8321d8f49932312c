/**
 * `costwatch user create | list | disable | set-password`. The password of `create` and
 * `set-password` is read from stdin — piped
 * (`echo 'pw' | costwatch user create ...`) or typed at a hidden prompt — never from the command
 * line, where it would land in shell history and the process list.
 */
import { withPool } from './support.js';
import { Option, type Command } from 'commander';
import {
  createUser,
  disableUserByEmail,
  findOrganizationRef,
  listUsers,
  setUserPassword,
  USER_ROLES,
  type UserRole,
} from '../database/repositories/users.repository.js';
import { DEFAULT_BCRYPT_COST, hashPassword, passwordProblem } from '../api/auth/passwords.js';

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

function parseEmail(value: string): string {
  const email = value.trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email))
    throw new Error(
      `--email: must be an email address such as ana@example.com, got ${JSON.stringify(value)}`,
    );
  return email;
}

function parseOrgId(value: string): number {
  if (!/^\d{1,15}$/.test(value) || Number(value) < 1)
    throw new Error(
      `--org: must be an organization id (a positive whole number), got ${JSON.stringify(value)}`,
    );
  return Number(value);
}

async function readPipedPassword(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
    if (chunks.reduce((n, c) => n + c.length, 0) > 4096)
      throw new Error('password: stdin holds more than 4096 bytes; pipe just the password');
  }
  // One trailing newline is the line terminator of `echo`, not part of the password.
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

function promptHidden(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let value = '';
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (data: string) => {
      for (const ch of data) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readPipedPassword();
  const first = await promptHidden('Password: ');
  const second = await promptHidden('Repeat password: ');
  if (first !== second) throw new Error('password: the two entries differ');
  return first;
}

function pgCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

export function registerUserCommand(program: Command): void {
  const user = program.command('user').description('manage API users (viewer, admin, operator)');

  user
    .command('create')
    .description('add a user; reads the password from stdin and prints the new user id')
    .requiredOption('--org <id>', 'organization id the user belongs to')
    .requiredOption('--email <email>', 'login email (stored lower-case, unique)')
    .addOption(
      new Option(
        '--role <role>',
        'viewer: read; admin: read and refresh; operator: every organization and Bull Board',
      )
        .choices(USER_ROLES)
        .makeOptionMandatory(),
    )
    .addOption(
      new Option('--bcrypt-cost <n>', 'bcrypt cost (tests only)')
        .default(String(DEFAULT_BCRYPT_COST))
        .hideHelp(),
    )
    .addHelpText(
      'after',
      '\nPassword rule: 12+ characters (at most 72 bytes), 6+ different characters, and not a run like "abcdefghijkl",\n' +
        'a repeated chunk like "abcabcabcabc", a common password ("password", "qwerty", ...) or your email name.\n' +
        'Example: printf \'%s\\n\' "$PASSWORD" | costwatch user create --org 1 --email ana@example.com --role viewer',
    )
    .action(async (options: { org: string; email: string; role: UserRole; bcryptCost: string }) => {
      const orgId = parseOrgId(options.org);
      const email = parseEmail(options.email);
      const cost = Number(options.bcryptCost);
      if (!Number.isInteger(cost) || cost < 4 || cost > 15)
        throw new Error('--bcrypt-cost: must be a whole number from 4 to 15');
      const password = await readPassword();
      const problem = passwordProblem(password, email);
      if (problem) throw new Error(problem);
      const id = await withPool(async (pool) => {
        const org = await findOrganizationRef(pool, orgId);
        if (!org) throw new Error(`--org: organization ${orgId} does not exist (see costwatch org list)`);
        // Operators read every tenant: they live in the platform organization only, and it holds nobody else.
        if (options.role === 'operator' && org.kind !== 'platform')
          throw new Error(
            `--role operator: operators belong to the platform organization, not to customer organization ${orgId} (${org.name}); ` +
              'create it once with `costwatch org create --platform --name NAME` and pass its id to --org',
          );
        if (options.role !== 'operator' && org.kind === 'platform')
          throw new Error(
            `--role ${options.role}: the platform organization ${orgId} holds operators only; pick a customer organization`,
          );
        const passwordHash = await hashPassword(password, cost);
        try {
          return await createUser(pool, { organizationId: orgId, email, passwordHash, role: options.role });
        } catch (error) {
          if (pgCode(error) === '23505')
            throw new Error(`--email: a user with email ${email} already exists`, { cause: error });
          if (pgCode(error) === '23503')
            throw new Error(`--org: organization ${orgId} does not exist`, { cause: error });
          throw error;
        }
      });
      process.stdout.write(`${id}\n`);
    });

  user
    .command('list')
    .description('list users (all organizations, or one)')
    .option('--org <id>', 'only users of this organization')
    .option('--json', 'print a JSON array (snake_case, as the API) instead of a table')
    .action(async (options: { org?: string; json?: boolean }) => {
      const orgId = options.org === undefined ? null : parseOrgId(options.org);
      const users = await withPool((pool) => listUsers(pool, orgId));
      if (options.json) {
        process.stdout.write(`${JSON.stringify(users, null, 2)}\n`);
        return;
      }
      const rows = users.map((u) => [
        String(u.id),
        `${u.organization_id} ${u.organization_name}`.slice(0, 30),
        u.email,
        u.role,
        u.disabled_at ? 'disabled' : 'active',
        u.last_login_at?.toISOString() ?? '-',
      ]);
      const header = ['ID', 'ORGANIZATION', 'EMAIL', 'ROLE', 'STATUS', 'LAST LOGIN'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
      for (const r of [header, ...rows])
        process.stdout.write(
          `${r
            .map((c, i) => c.padEnd(widths[i] ?? 0))
            .join('  ')
            .trimEnd()}\n`,
        );
    });

  user
    .command('disable')
    .description(
      'disable a user: login refused and existing tokens stop working at once (token version bumped)',
    )
    .requiredOption('--email <email>', 'the user to disable')
    .action(async (options: { email: string }) => {
      const email = parseEmail(options.email);
      const disabled = await withPool((pool) => disableUserByEmail(pool, email));
      if (!disabled) throw new Error(`--email: no user with email ${email}`);
      process.stdout.write(`disabled user ${disabled.id} (${email})\n`);
    });

  user
    .command('set-password')
    .description(
      "replace a user's password (read from stdin); every token and Bull Board session issued before stops working at once",
    )
    .requiredOption('--email <email>', 'the user whose password changes')
    .addOption(
      new Option('--bcrypt-cost <n>', 'bcrypt cost (tests only)')
        .default(String(DEFAULT_BCRYPT_COST))
        .hideHelp(),
    )
    .addHelpText(
      'after',
      '\nSame password rule as `user create`.\n' +
        'Example: printf \'%s\\n\' "$NEW_PASSWORD" | costwatch user set-password --email ana@example.com',
    )
    .action(async (options: { email: string; bcryptCost: string }) => {
      const email = parseEmail(options.email);
      const cost = Number(options.bcryptCost);
      if (!Number.isInteger(cost) || cost < 4 || cost > 15)
        throw new Error('--bcrypt-cost: must be a whole number from 4 to 15');
      const password = await readPassword();
      const problem = passwordProblem(password, email);
      if (problem) throw new Error(problem);
      const passwordHash = await hashPassword(password, cost);
      const changed = await withPool((pool) => setUserPassword(pool, email, passwordHash));
      if (!changed) throw new Error(`--email: no user with email ${email}`);
      process.stdout.write(
        `password of user ${changed.id} (${email}) changed; tokens issued before are revoked (token version ${changed.token_version})\n`,
      );
    });
}
