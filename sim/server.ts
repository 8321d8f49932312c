/**
 * The local AWS endpoint. One HTTP server answers Cost Explorer, CloudWatch and STS on the
 * wire protocols the AWS SDK for JavaScript v3 speaks, so `AWS_ENDPOINT_URL` pointing here
 * is the only difference from production. `/_sim/...` is the control API.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Now } from '../lib/clock.js';
import { handleAws } from './aws-router.js';
import { CONTROL_PREFIX, handleControl } from './control-api.js';
import type { SimOptions } from './options.js';
import { SimulatorState, type SimulatorControl } from './state.js';
import { readBody } from './wire.js';

export type { SimOptions } from './options.js';
export type { SimulatorControl } from './state.js';
export type { RequestCounts } from './request-log.js';

/** A running simulator. */
export interface RunningSimulator {
  /** Base URL to use as the SDK `endpoint` / `AWS_ENDPOINT_URL`, e.g. `http://127.0.0.1:4566`. */
  readonly url: string;
  readonly port: number;
  /** In-process handle with the same powers as the HTTP control API. */
  readonly control: SimulatorControl;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** What an in-process caller can share with the simulator beyond its (JSON) options. */
export interface SimulatorRuntime {
  /**
   * The simulator's clock (default the wall clock): pass a test's or benchmark's pinned `Now` so
   * the simulator's today is the pipeline's today. The clockStart option, when set, overrides it.
   */
  now?: Now;
}

/**
 * Starts the simulator. `options.port` 0 picks a free port; host defaults to 127.0.0.1.
 * Rejects if the port cannot be bound or an option is invalid.
 */
export async function startSimulator(
  options: Partial<SimOptions> = {},
  runtime: SimulatorRuntime = {},
): Promise<RunningSimulator> {
  const state = new SimulatorState(options, runtime.now);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    readBody(req)
      .then((body) => {
        if ((req.url ?? '').startsWith(CONTROL_PREFIX)) return handleControl(state, req, res, body);
        return handleAws(state, req, res, body);
      })
      .catch((error: unknown) => {
        process.stderr.write(
          `costwatch sim: request failed: ${error instanceof Error ? error.message : String(error)}\n`,
        );
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end();
      });
  });
  const { host, port } = state.current;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    control: state,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
