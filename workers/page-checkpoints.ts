/**
 * Page checkpoints of one cost load (one job, one window): every GetCostAndUsage page that has a
 * next page is kept in Postgres as it arrives (ce_page_checkpoints, migration 0014), so when the job
 * dies part-way (kill -9, a lost node, an error after some pages) its retry, on whichever worker,
 * sends only the requests whose answers it does not have, and at most one page per query besides
 * (its last, which is not kept: a one-page query, the usual steady refresh, writes nothing). The kept pages are deleted in the transaction that
 * commits the window, so nothing outlives the load it served.
 *
 * Only the same job reuses them (its BullMQ id, org and window), and only while they are younger
 * than CE_PAGE_CHECKPOINT_SECONDS: a retry comes within minutes (stall detection after
 * JOB_LOCK_SECONDS, retry backoff, throttle delays of at most 10 minutes), while an older answer
 * could hide a restatement AWS made since; the probe of the next refresh compares the stored
 * totals with AWS again, so what a reused page missed is fetched then.
 *
 * Writes go through their own small pool (the worker's checkpoint pool), never the load's: the load
 * waits for its pending writes before it commits, and a write queued behind loads that all wait
 * for theirs would deadlock a shared pool.
 */
import type { GetCostAndUsageCommandOutput } from '@aws-sdk/client-cost-explorer';
import type { Pool, Queryable } from '../lib/db.js';
import type { Logger } from '../lib/logger.js';
import {
  clearPagesAtCommit,
  discardPages,
  savePage,
  savedPages,
  type CheckpointScope,
} from '../database/repositories/page-checkpoints.repository.js';
import type { PageCheckpoints } from './cost-explorer.js';

/** Connections of a worker's checkpoint pool (counted by doctor's connection headroom check). */
export const CHECKPOINT_POOL_SIZE = 2;

/** Where checkpoints live: the worker's checkpoint pool and how long a page may be reused. */
export interface CheckpointStore {
  db: Pool;
  /** CE_PAGE_CHECKPOINT_SECONDS. */
  maxAgeSeconds: number;
  log: Logger;
}

const keyOf = (query: string, token: string) => `${query}\n${token}`;

/** The checkpoints of one load: the pages an earlier attempt kept, and the writes of this one. */
export class WindowCheckpoints implements PageCheckpoints {
  /** Pages answered from checkpoints (not sent). */
  reused = 0;
  private readonly pending = new Set<Promise<void>>();
  private dropped = false;

  private constructor(
    private readonly store: CheckpointStore,
    private readonly scope: CheckpointScope,
    private readonly kept: Map<string, GetCostAndUsageCommandOutput>,
  ) {}

  /**
   * Opens the checkpoints of a load; `retry`: an earlier attempt of the job may have kept pages
   * (the first attempt of a job skips the look-up). A failed look-up only costs the re-reads.
   */
  static async open(
    store: CheckpointStore,
    scope: CheckpointScope,
    retry: boolean,
  ): Promise<WindowCheckpoints> {
    const kept = new Map<string, GetCostAndUsageCommandOutput>();
    if (retry) {
      try {
        for (const row of await savedPages(store.db, scope, store.maxAgeSeconds)) {
          const page = JSON.parse(row.page) as Omit<GetCostAndUsageCommandOutput, '$metadata'>;
          kept.set(keyOf(row.query, row.pageToken), { ...page, $metadata: {} });
        }
      } catch (error) {
        store.log.warn(
          { err: error, orgId: scope.orgId, jobId: scope.jobId },
          'page checkpoints unreadable; the window is read in full',
        );
        kept.clear();
      }
    }
    return new WindowCheckpoints(store, scope, kept);
  }

  saved(query: string, token: string): GetCostAndUsageCommandOutput | undefined {
    if (this.dropped) return undefined;
    const page = this.kept.get(keyOf(query, token));
    if (page) this.reused++;
    return page;
  }

  save(query: string, token: string, page: GetCostAndUsageCommandOutput): void {
    if (this.dropped) return;
    const { $metadata: _metadata, ...answer } = page;
    const write = savePage(this.store.db, this.scope, {
      query,
      pageToken: token,
      page: JSON.stringify(answer),
    }).catch((error: unknown) =>
      this.store.log.debug({ err: error, orgId: this.scope.orgId }, 'page checkpoint not kept'),
    );
    this.pending.add(write);
    void write.finally(() => this.pending.delete(write));
  }

  async refused(): Promise<void> {
    this.dropped = true;
    this.kept.clear();
    await Promise.all(this.pending);
    await discardPages(this.store.db, this.scope);
  }

  /**
   * In the load's transaction, last: waits for this attempt's writes, deletes the window's pages
   * (and the org's expired ones) and adds the reused pages to the run.
   */
  async commit(tx: Queryable, runId: number): Promise<void> {
    await Promise.all(this.pending);
    await clearPagesAtCommit(tx, this.scope.orgId, this.scope.window, this.store.maxAgeSeconds, {
      runId,
      pagesReused: this.reused,
    });
  }
}
