/**
 * `X-Process-Time` (milliseconds, e.g. "1.234") on every response, including errors, redirects
 * and Bull Board's own pages: set just before the headers are written, whoever writes them.
 */
import type { RequestHandler } from 'express';
import { startedAt } from './request-context.js';

export function processTime(): RequestHandler {
  return (req, res, next) => {
    const writeHead = res.writeHead;
    const stamp = () => {
      if (!res.headersSent) {
        const ms = Number(process.hrtime.bigint() - startedAt(req)) / 1e6;
        res.setHeader('X-Process-Time', ms.toFixed(3));
      }
    };
    // writeHead has several overloads; forward whatever arguments it was called with.
    res.writeHead = function (this: typeof res, ...args: Parameters<typeof writeHead>) {
      stamp();
      return writeHead.apply(this, args);
    } as typeof writeHead;
    next();
  };
}
