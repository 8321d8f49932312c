import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { stackUp } from '../scripts/local-stack.js';

test('a local Postgres whose port another server holds fails with a message naming the port', async () => {
  const squatter = net.createServer();
  await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
  const port = (squatter.address() as net.AddressInfo).port;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'cw-stack-'));
  try {
    await assert.rejects(
      stackUp({ stateDir, pgPort: port, redisPort: port + 1, docker: false, log: () => undefined }),
      new RegExp(`127\\.0\\.0\\.1:${port} is in use by another server`),
    );
  } finally {
    squatter.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
});
