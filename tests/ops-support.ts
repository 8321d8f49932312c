/**
 * Support for the ops tests: run the real `costwatch` CLI (bin/costwatch.mjs) as a child process
 * with an explicit environment, bounded in time, and read its JSON log lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BIN = path.join(ROOT, 'bin', 'costwatch.mjs');

/** A minimal environment: nothing of the test runner's DATABASE_URL / JWT_SECRET_KEY leaks in. */
export function baseEnv(extra: Record<string, string | undefined>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'LANG', 'NODE_OPTIONS']) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  env.AWS_ACCESS_KEY_ID = 'AKIACOSTWATCHTEST';
  env.AWS_SECRET_ACCESS_KEY = 'costwatch-test-secret';
  env.AWS_EC2_METADATA_DISABLED = 'true';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return allowLoopbackSimulator(env);
}

/**
 * The tests' AWS is the simulator on loopback over http:, which every role refuses unless
 * ALLOW_INSECURE_AWS_ENDPOINT is set: set it for a loopback endpoint when the test did not decide.
 */
export function allowLoopbackSimulator(env: Record<string, string>): Record<string, string> {
  const loopback = /^http:\/\/(127\.0\.0\.1|localhost)[:/]/.test(env.AWS_ENDPOINT_URL ?? '');
  return loopback && env.ALLOW_INSECURE_AWS_ENDPOINT === undefined
    ? { ...env, ALLOW_INSECURE_AWS_ENDPOINT: 'true' }
    : env;
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `costwatch ...args` to completion; kills it (and fails) after `timeoutMs`. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: allowLoopbackSimulator(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `costwatch ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** A long-running role (`worker`, `scheduler`, `api`) whose stdout is collected line by line. */
export interface RunningRole {
  child: ChildProcess;
  /** Every line written so far (stdout and stderr). */
  lines: string[];
  /** Resolves with the first JSON log line for which `match` is true. */
  waitForLog(
    match: (entry: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolves when the process exits; rejects after `timeoutMs`. */
  exited(timeoutMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** SIGKILL if still running (cleanup). */
  kill(): void;
}

export function startRole(args: string[], env: Record<string, string>): RunningRole {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: allowLoopbackSimulator(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  const onData = (buffer: { rest: string }) => (d: Buffer) => {
    buffer.rest += d.toString();
    const parts = buffer.rest.split('\n');
    buffer.rest = parts.pop() ?? '';
    lines.push(...parts);
    for (const l of listeners) l();
  };
  child.stdout?.on('data', onData({ rest: '' }));
  child.stderr?.on('data', onData({ rest: '' }));
  child.on('exit', (code, signal) => {
    exit = { code, signal, at: Date.now() };
    for (const l of listeners) l();
  });
  const entries = () =>
    lines.flatMap((l) => {
      try {
        const parsed: unknown = JSON.parse(l);
        return parsed && typeof parsed === 'object' ? [parsed as Record<string, unknown>] : [];
      } catch {
        return [];
      }
    });
  return {
    child,
    lines,
    waitForLog(match, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = entries().find(match);
          if (found) {
            done();
            resolve(found);
          } else if (exit) {
            done();
            reject(
              new Error(
                `costwatch ${args.join(' ')} exited (${exit.code ?? exit.signal}) before the expected log line:\n${lines.join('\n')}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `no matching log line of costwatch ${args.join(' ')} within ${timeoutMs} ms:\n${lines.join('\n')}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    exited(timeoutMs) {
      const since = Date.now();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!exit) return;
          done();
          resolve({ code: exit.code, signal: exit.signal, ms: exit.at - since });
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `costwatch ${args.join(' ')} still running after ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    kill() {
      if (!exit) child.kill('SIGKILL');
    },
  };
}

/** A TCP port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `probe` until it returns true; throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what}: not true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
