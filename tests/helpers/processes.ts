/** Real CostWatch processes for tests: spawn a role with an environment and wait until it is up. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/paths.js';
import { allowLoopbackSimulator } from '../ops-support.js';

export interface RoleProcess {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `costwatch <args>` and resolves once a log line contains `readyText`. */
export async function spawnRole(
  args: string[],
  env: Record<string, string>,
  readyText: string,
  timeoutMs = 30_000,
): Promise<RoleProcess> {
  const child = spawn(process.execPath, [path.join(PROJECT_ROOT, 'bin', 'costwatch.mjs'), ...args], {
    env: allowLoopbackSimulator({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const deadline = Date.now() + timeoutMs;
  while (!out.includes(readyText)) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`costwatch ${args.join(' ')} exited early:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`costwatch ${args.join(' ')} not ready after ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, output: () => out, exited };
}
