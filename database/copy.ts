/**
 * Streaming COPY ... FROM STDIN (pg-copy-streams) in Postgres's text format, with back-pressure:
 * rows are pulled from an async source only as fast as Postgres takes them.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom } from 'pg-copy-streams';
import type { PoolClient } from '../lib/db.js';

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** Escapes one text-format field: backslash, tab, newline and carriage return; NUL is refused. */
export function copyText(value: string): string {
  if (value.includes('\u0000')) throw new Error(`value contains a NUL character, which Postgres text cannot hold: ${JSON.stringify(value.slice(0, 80))}`);
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c] ?? c) : value;
}

/**
 * Streams `chunks` (each a run of complete text-format lines) into `COPY <target> FROM STDIN`.
 * The caller owns the transaction. Resolves once Postgres has accepted every row.
 */
export async function copyInto(client: PoolClient, target: string, chunks: AsyncIterable<string>): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${target} FROM STDIN`));
  // If the connection dies mid-COPY (Postgres restarted), fail the stream instead of waiting forever.
  const gone = (error?: Error) => stream.destroy(error ?? new Error('the Postgres connection closed during COPY'));
  client.once('error', gone);
  client.once('end', gone);
  try {
    await pipeline(Readable.from(chunks, { objectMode: false, highWaterMark: 1 << 16 }), stream);
  } finally {
    client.off('error', gone);
    client.off('end', gone);
  }
}

/**
 * Waits for the first item of `source`, then returns an iterable of all of it. Loaders call this
 * before opening their transaction, so the org's lock and a pooled connection are not held while
 * the first (often the only) AWS response is awaited.
 */
export async function afterFirst<T>(source: AsyncIterable<T>): Promise<AsyncIterable<T>> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  return {
    async *[Symbol.asyncIterator]() {
      if (first.done) return;
      yield first.value;
      try {
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
      } finally {
        await iterator.return?.();
      }
    },
  };
}
