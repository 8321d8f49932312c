/**
 * Fault injection of the chaos suite: stops and restarts the local Postgres and Redis that
 * scripts/local-stack.ts provisioned for it (its own instances, never the shared test ones).
 */
import {
  asUser,
  loadSecrets,
  localPostgresCtl,
  run,
  startLocalRedis,
  waitForPort,
} from '../../scripts/local-stack.js';

/** Where a local stack keeps what its restart helpers need. */
export interface LocalStackRef {
  stateDir: string;
  redisPort: number;
  log?: (line: string) => void;
}

/**
 * Stops the local Postgres of `stateDir` (`pg_ctl stop -m fast|immediate`: immediate is a crash,
 * recovered from WAL on start), waits `downMs`, and starts it again. For fault-injection runs of a
 * stack this process started; never point it at a stack others use.
 */
export async function restartLocalPostgres(
  ref: LocalStackRef,
  mode: 'fast' | 'immediate',
  downMs = 0,
): Promise<void> {
  const { ctl, user, dataDir, logFile } = localPostgresCtl(ref.stateDir);
  const stop = asUser(user, ctl, ['-D', dataDir, '-m', mode, '-w', 'stop']);
  if (!stop.ok) throw new Error(`pg_ctl stop -m ${mode} failed:\n${stop.out}`);
  if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
  const start = asUser(user, ctl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start']);
  if (!start.ok) throw new Error(`pg_ctl start failed:\n${start.out}\n(see ${logFile})`);
}

/**
 * Stops the local Redis of `stateDir` — `clean`: SHUTDOWN (AOF flushed); `nosave`: SHUTDOWN NOSAVE
 * (no RDB snapshot: what survives is the AOF) — waits `downMs`, and starts it on the same AOF dir.
 */
export async function restartLocalRedis(
  ref: LocalStackRef,
  mode: 'clean' | 'nosave',
  downMs = 0,
): Promise<void> {
  const log = ref.log ?? (() => undefined);
  const secrets = loadSecrets(ref.stateDir);
  const args = [
    '-p',
    String(ref.redisPort),
    '-a',
    secrets.redisPassword,
    '--no-auth-warning',
    'SHUTDOWN',
    ...(mode === 'nosave' ? ['NOSAVE'] : []),
  ];
  run('redis-cli', args);
  const deadline = Date.now() + 15_000;
  while (await waitForPort('127.0.0.1', ref.redisPort, 100)) {
    if (Date.now() > deadline) throw new Error(`redis on port ${ref.redisPort} did not stop`);
    await new Promise((r) => setTimeout(r, 100));
  }
  if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
  await startLocalRedis(ref.stateDir, secrets, log, ref.redisPort);
}
