/**
 * Development tool, not part of the image: the local Postgres and Redis of `npm run demo`, `npm
 * test` and `npm run bench` (`npm run stack:up` / `stack:down`: scripts/stack.ts), provisioned in
 * SPEC's order:
 * 1. DATABASE_URL / REDIS_URL when set and reachable;
 * 2. a Docker engine, when one answers;
 * 3. local `postgres` / `redis-server` binaries;
 * 4. installing Debian's `postgresql` and `redis-server` with apt, when running as root.
 * Local servers bind 127.0.0.1 on non-default ports, keep their data under `.costwatch/`, and
 * Postgres runs as an unprivileged user. `stackUp` is idempotent; `stackDown` stops what it started.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PROJECT_ROOT } from '../lib/paths.js';

/** The one ignored folder holding local Postgres/Redis data, logs and the generated env files. */
export const LOCAL_STATE_DIR = path.join(PROJECT_ROOT, '.costwatch');

export const LOCAL_PG_PORT = 54329;
export const LOCAL_REDIS_PORT = 63790;

export interface StackEnv {
  DATABASE_URL: string;
  REDIS_URL: string;
  JWT_SECRET_KEY: string;
}

export interface StackInfo extends StackEnv {
  postgres: 'external' | 'docker' | 'local';
  redis: 'external' | 'docker' | 'local';
}

export interface StackOptions {
  /** DATABASE_URL / REDIS_URL from the environment, if set. */
  databaseUrl?: string | undefined;
  redisUrl?: string | undefined;
  stateDir?: string;
  /** Port of a local Postgres (default LOCAL_PG_PORT); a second stack needs its own stateDir and ports. */
  pgPort?: number;
  /** Port of a local Redis (default LOCAL_REDIS_PORT). */
  redisPort?: number;
  /** Try a Docker engine (default true). Its container names are fixed, so a second stack passes false. */
  docker?: boolean;
  log?: (line: string) => void;
}

export interface Secrets {
  pgPassword: string;
  redisPassword: string;
  jwtSecret: string;
}

export function run(
  cmd: string,
  args: string[],
  options: SpawnSyncOptions = {},
): { ok: boolean; out: string } {
  const result = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, ...options });
  const out = `${String(result.stdout ?? '')}${String(result.stderr ?? '')}`;
  return { ok: result.status === 0 && !result.error, out };
}

function which(cmd: string): string | null {
  const result = run('sh', ['-c', `command -v ${cmd}`]);
  return result.ok ? result.out.trim() || null : null;
}

/** Resolves once something accepts TCP connections on host:port, or returns false after `ms`. */
export async function waitForPort(host: string, port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.setTimeout(1_000, () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (open) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

async function reachable(url: string, defaultPort: number): Promise<boolean> {
  try {
    const parsed = new URL(url);
    return await waitForPort(parsed.hostname || '127.0.0.1', Number(parsed.port || defaultPort), 3_000);
  } catch {
    return false;
  }
}

export function loadSecrets(stateDir: string): Secrets {
  const file = path.join(stateDir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Secrets;
  const secrets: Secrets = {
    pgPassword: randomBytes(12).toString('hex'),
    redisPassword: randomBytes(12).toString('hex'),
    jwtSecret: randomBytes(32).toString('hex'),
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function dockerAnswers(): boolean {
  if (!which('docker')) return false;
  return run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5_000 }).ok;
}

/** Finds the directory holding Postgres's server binaries (initdb, pg_ctl, postgres). */
function findPgBin(): string | null {
  const pgCtl = which('pg_ctl');
  if (pgCtl && which('initdb')) return path.dirname(pgCtl);
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base)
      .filter((v) => existsSync(path.join(base, v, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(base, versions[0], 'bin');
  }
  return null;
}

function aptInstall(packages: string[], log: (line: string) => void): void {
  if (!isRoot() || !which('apt-get')) {
    throw new Error(
      `cannot provision ${packages.join(' and ')}: not installed, no Docker engine, and not root with apt-get. ` +
        'Set DATABASE_URL and REDIS_URL, or install PostgreSQL >= 15 and Redis >= 7.',
    );
  }
  log(`installing ${packages.join(', ')} with apt-get (one time)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = run('apt-get', ['update', '-qq'], { env });
  if (!update.ok) throw new Error(`apt-get update failed:\n${update.out}`);
  const install = run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], { env });
  if (!install.ok) throw new Error(`apt-get install ${packages.join(' ')} failed:\n${install.out}`);
}

/** The unprivileged account Postgres runs as when we are root. */
function postgresUser(): string | null {
  if (!isRoot()) return null;
  if (run('id', ['-u', 'postgres']).ok) return 'postgres';
  const created = run('useradd', [
    '--system',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    'postgres',
  ]);
  if (!created.ok) throw new Error(`cannot create the unprivileged postgres user: ${created.out}`);
  return 'postgres';
}

function uidGid(user: string): { uid: number; gid: number } {
  return { uid: Number(run('id', ['-u', user]).out.trim()), gid: Number(run('id', ['-g', user]).out.trim()) };
}

export function asUser(user: string | null, cmd: string, args: string[]): { ok: boolean; out: string } {
  if (user === null) return run(cmd, args);
  const { uid, gid } = uidGid(user);
  return run(cmd, args, { uid, gid, cwd: '/' });
}

async function startLocalPostgres(
  stateDir: string,
  secrets: Secrets,
  log: (line: string) => void,
  port: number,
): Promise<string> {
  let bin = findPgBin();
  if (!bin) {
    aptInstall(['postgresql'], log);
    bin = findPgBin();
    if (!bin) throw new Error('postgresql installed but pg_ctl not found under /usr/lib/postgresql');
  }
  const user = postgresUser();
  const dataDir = path.join(stateDir, 'postgres');
  const socketDir = path.join(stateDir, 'run');
  const url = `postgresql://costwatch:${secrets.pgPassword}@127.0.0.1:${port}/costwatch`;
  mkdirSync(socketDir, { recursive: true });
  if (user) {
    const { uid, gid } = uidGid(user);
    // The state folder must be traversable by the postgres user.
    chmodSync(stateDir, 0o755);
    chownSync(socketDir, uid, gid);
  }
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
    log(`initialising a local Postgres cluster in ${path.relative(process.cwd(), dataDir) || dataDir}`);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pwfile = path.join(stateDir, 'run', 'pwfile');
    writeFileSync(pwfile, secrets.pgPassword, { mode: 0o600 });
    if (user) {
      const { uid, gid } = uidGid(user);
      chownSync(dataDir, uid, gid);
      chownSync(pwfile, uid, gid);
    }
    const init = asUser(user, path.join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'costwatch',
      `--pwfile=${pwfile}`,
      '--auth-host=scram-sha-256',
      '--auth-local=trust',
      '--encoding=UTF8',
      '--locale=C.UTF-8',
    ]);
    if (!init.ok) throw new Error(`initdb failed:\n${init.out}`);
    writeFileSync(
      path.join(dataDir, 'postgresql.auto.conf'),
      [
        `listen_addresses = '127.0.0.1'`,
        `port = ${port}`,
        `unix_socket_directories = '${socketDir}'`,
        'max_connections = 300',
        'shared_buffers = 512MB',
        'work_mem = 32MB',
        'maintenance_work_mem = 256MB',
        // A laptop/test instance: commits need not wait for the disk (a crash loses < 1 s, never corrupts).
        'synchronous_commit = off',
        `max_wal_size = 4GB`,
        `logging_collector = off`,
        '',
      ].join('\n'),
    );
    if (user) {
      const { uid, gid } = uidGid(user);
      chownSync(path.join(dataDir, 'postgresql.auto.conf'), uid, gid);
    }
  }
  const status = asUser(user, path.join(bin, 'pg_ctl'), ['-D', dataDir, 'status']);
  if (!status.ok) {
    // Our cluster is stopped, so whatever answers on the port is someone else's (often the stack of
    // another checkout): say so instead of pointing at postgres.log.
    if (await waitForPort('127.0.0.1', port, 300)) {
      throw new Error(
        `127.0.0.1:${port} is in use by another server (another checkout's \`npm run stack:up\`? run \`npm run stack:down\` there), so this checkout's Postgres cannot start`,
      );
    }
    log(`starting Postgres on 127.0.0.1:${port}`);
    const logFile = path.join(stateDir, 'run', 'postgres.log');
    // pg_stat_statements (in Debian's server package) lets `npm run bench` show where Postgres's time goes.
    const libDir = path.join(path.dirname(realpathSync(path.join(bin, 'pg_ctl'))), '..', 'lib');
    const statements = existsSync(path.join(libDir, 'pg_stat_statements.so'))
      ? ['-o', '-c shared_preload_libraries=pg_stat_statements']
      : [];
    const start = asUser(user, path.join(bin, 'pg_ctl'), [
      '-D',
      dataDir,
      '-l',
      logFile,
      '-w',
      '-t',
      '60',
      ...statements,
      'start',
    ]);
    if (!start.ok) throw new Error(`pg_ctl start failed:\n${start.out}\n(see ${logFile})`);
  }
  const created = asUser(user, path.join(bin, 'psql'), [
    '-h',
    socketDir,
    '-p',
    String(port),
    '-U',
    'costwatch',
    '-d',
    'postgres',
    '-tAc',
    "SELECT 1 FROM pg_database WHERE datname = 'costwatch'",
  ]);
  const psql = existsSync(path.join(bin, 'psql')) ? path.join(bin, 'psql') : 'psql';
  if (!created.out.includes('1')) {
    const create = asUser(user, psql, [
      '-h',
      socketDir,
      '-p',
      String(port),
      '-U',
      'costwatch',
      '-d',
      'postgres',
      '-c',
      'CREATE DATABASE costwatch',
    ]);
    if (!create.ok && !create.out.includes('already exists'))
      throw new Error(`CREATE DATABASE failed:\n${create.out}`);
  }
  return url;
}

export async function startLocalRedis(
  stateDir: string,
  secrets: Secrets,
  log: (line: string) => void,
  port: number,
): Promise<string> {
  if (!which('redis-server')) aptInstall(['redis-server'], log);
  const url = `redis://:${secrets.redisPassword}@127.0.0.1:${port}`;
  const dir = path.join(stateDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const ping = run('redis-cli', [
    '-p',
    String(port),
    '-a',
    secrets.redisPassword,
    '--no-auth-warning',
    'ping',
  ]);
  if (ping.out.includes('PONG')) return url;
  log(`starting Redis on 127.0.0.1:${port}`);
  const start = run('redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'everysec',
    '--maxmemory-policy',
    'noeviction',
    '--requirepass',
    secrets.redisPassword,
    '--daemonize',
    'yes',
    '--pidfile',
    path.join(dir, 'redis.pid'),
    '--logfile',
    path.join(dir, 'redis.log'),
    '--save',
    '',
  ]);
  if (!start.ok) throw new Error(`redis-server failed to start:\n${start.out}`);
  if (!(await waitForPort('127.0.0.1', port, 15_000)))
    throw new Error(`redis-server did not open port ${port}; see ${dir}/redis.log`);
  // AOF loading can take a moment after the port opens.
  for (let i = 0; i < 100; i++) {
    const ready = run('redis-cli', [
      '-p',
      String(port),
      '-a',
      secrets.redisPassword,
      '--no-auth-warning',
      'ping',
    ]);
    if (ready.out.includes('PONG')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return url;
}

function dockerRun(name: string, args: string[]): void {
  const existing = run('docker', ['inspect', '-f', '{{.State.Running}}', name]);
  if (existing.ok && existing.out.trim() === 'true') return;
  if (existing.ok) {
    const started = run('docker', ['start', name]);
    if (!started.ok) throw new Error(`docker start ${name} failed:\n${started.out}`);
    return;
  }
  const created = run('docker', ['run', '-d', '--name', name, ...args]);
  if (!created.ok) throw new Error(`docker run ${name} failed:\n${created.out}`);
}

async function startDockerServices(
  stateDir: string,
  secrets: Secrets,
): Promise<{ pg: string; redis: string }> {
  dockerRun('costwatch-dev-postgres', [
    '-p',
    `127.0.0.1:${LOCAL_PG_PORT}:5432`,
    '-e',
    'POSTGRES_USER=costwatch',
    '-e',
    `POSTGRES_PASSWORD=${secrets.pgPassword}`,
    '-e',
    'POSTGRES_DB=costwatch',
    '-v',
    `${path.join(stateDir, 'docker-postgres')}:/var/lib/postgresql/data`,
    'postgres:15',
    '-c',
    'max_connections=300',
    '-c',
    'synchronous_commit=off',
  ]);
  dockerRun('costwatch-dev-redis', [
    '-p',
    `127.0.0.1:${LOCAL_REDIS_PORT}:6379`,
    '-v',
    `${path.join(stateDir, 'docker-redis')}:/data`,
    'redis:7',
    'redis-server',
    '--appendonly',
    'yes',
    '--maxmemory-policy',
    'noeviction',
    '--requirepass',
    secrets.redisPassword,
  ]);
  if (!(await waitForPort('127.0.0.1', LOCAL_PG_PORT, 60_000)))
    throw new Error('docker postgres did not start');
  if (!(await waitForPort('127.0.0.1', LOCAL_REDIS_PORT, 30_000)))
    throw new Error('docker redis did not start');
  return {
    pg: `postgresql://costwatch:${secrets.pgPassword}@127.0.0.1:${LOCAL_PG_PORT}/costwatch`,
    redis: `redis://:${secrets.redisPassword}@127.0.0.1:${LOCAL_REDIS_PORT}`,
  };
}

/** Brings Postgres and Redis up (or finds them) and returns the connection settings. */
export async function stackUp(options: StackOptions = {}): Promise<StackInfo> {
  const log = options.log ?? ((line: string) => process.stderr.write(`stack: ${line}\n`));
  const stateDir = options.stateDir ?? LOCAL_STATE_DIR;
  mkdirSync(stateDir, { recursive: true });
  const secrets = loadSecrets(stateDir);

  const externalPg =
    options.databaseUrl && (await reachable(options.databaseUrl, 5432)) ? options.databaseUrl : null;
  const externalRedis =
    options.redisUrl && (await reachable(options.redisUrl, 6379)) ? options.redisUrl : null;
  if (options.databaseUrl && !externalPg)
    log(`DATABASE_URL is set but not reachable; provisioning a local Postgres instead`);
  if (options.redisUrl && !externalRedis)
    log(`REDIS_URL is set but not reachable; provisioning a local Redis instead`);

  let pgUrl = externalPg;
  let redisUrl = externalRedis;
  let pgKind: StackInfo['postgres'] = 'external';
  let redisKind: StackInfo['redis'] = 'external';
  const statePath = path.join(stateDir, 'provider');
  const previous = existsSync(statePath) ? readFileSync(statePath, 'utf8').trim() : '';

  if (
    (!pgUrl || !redisUrl) &&
    options.docker !== false &&
    (previous === 'docker' || (previous === '' && dockerAnswers()))
  ) {
    log('using the Docker engine for Postgres and Redis');
    const urls = await startDockerServices(stateDir, secrets);
    writeFileSync(statePath, 'docker');
    if (!pgUrl) [pgUrl, pgKind] = [urls.pg, 'docker'];
    if (!redisUrl) [redisUrl, redisKind] = [urls.redis, 'docker'];
  }
  if (!pgUrl) {
    pgUrl = await startLocalPostgres(stateDir, secrets, log, options.pgPort ?? LOCAL_PG_PORT);
    pgKind = 'local';
    writeFileSync(statePath, 'local');
  }
  if (!redisUrl) {
    redisUrl = await startLocalRedis(stateDir, secrets, log, options.redisPort ?? LOCAL_REDIS_PORT);
    redisKind = 'local';
    writeFileSync(statePath, 'local');
  }
  const info: StackInfo = {
    DATABASE_URL: pgUrl,
    REDIS_URL: redisUrl,
    JWT_SECRET_KEY: secrets.jwtSecret,
    postgres: pgKind,
    redis: redisKind,
  };
  writeFileSync(
    path.join(stateDir, 'stack.env'),
    `DATABASE_URL=${info.DATABASE_URL}\nREDIS_URL=${info.REDIS_URL}\nJWT_SECRET_KEY=${info.JWT_SECRET_KEY}\n`,
    { mode: 0o600 },
  );
  return info;
}

/** Stops the local (or Docker) Postgres and Redis that stackUp started. External ones are left alone. */
export async function stackDown(
  options: { stateDir?: string; pgPort?: number; redisPort?: number; log?: (line: string) => void } = {},
): Promise<void> {
  const log = options.log ?? ((line: string) => process.stderr.write(`stack: ${line}\n`));
  const stateDir = options.stateDir ?? LOCAL_STATE_DIR;
  const statePath = path.join(stateDir, 'provider');
  const provider = existsSync(statePath) ? readFileSync(statePath, 'utf8').trim() : '';
  if (provider === 'docker') {
    run('docker', ['stop', 'costwatch-dev-postgres', 'costwatch-dev-redis']);
    log('stopped the Docker containers costwatch-dev-postgres and costwatch-dev-redis');
    return;
  }
  const dataDir = path.join(stateDir, 'postgres');
  const bin = findPgBin();
  if (bin && existsSync(path.join(dataDir, 'PG_VERSION'))) {
    const user = isRoot() && run('id', ['-u', 'postgres']).ok ? 'postgres' : null;
    const stop = asUser(user, path.join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', 'stop']);
    log(stop.ok ? 'stopped Postgres' : 'Postgres was not running');
  }
  const pidFile = path.join(stateDir, 'redis', 'redis.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    try {
      process.kill(pid, 'SIGTERM');
      log('stopped Redis');
    } catch {
      log('Redis was not running');
    }
  }
}

/** The pg_ctl, data folder, log file and OS user of the local Postgres cluster of `stateDir`. */
export function localPostgresCtl(stateDir: string): {
  ctl: string;
  user: string | null;
  dataDir: string;
  logFile: string;
} {
  const bin = findPgBin();
  const dataDir = path.join(stateDir, 'postgres');
  if (!bin || !existsSync(path.join(dataDir, 'PG_VERSION')))
    throw new Error(`no local Postgres cluster in ${dataDir}`);
  const user = isRoot() && run('id', ['-u', 'postgres']).ok ? 'postgres' : null;
  return {
    ctl: path.join(bin, 'pg_ctl'),
    user,
    dataDir,
    logFile: path.join(stateDir, 'run', 'postgres.log'),
  };
}
