/**
 * Raw HTTP for hostile-input tests: any method, path, headers and body (fetch refuses some of
 * them), answering only the status code: -1 for a connection error, -2 for no answer in 20 s.
 */
import http from 'node:http';

export interface RawRequest {
  method: string;
  path: string;
  headers?: Record<string, string> | undefined;
  body?: string | Buffer | undefined;
}

export function statusOf(base: URL, r: RawRequest, agent: http.Agent): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      { host: base.hostname, port: base.port, method: r.method, path: r.path, headers: r.headers, agent },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', () => resolve(-1));
      },
    );
    req.on('error', () => resolve(-1));
    req.setTimeout(20_000, () => {
      resolve(-2);
      req.destroy();
    });
    if (r.body !== undefined) req.write(r.body);
    req.end();
  });
}
