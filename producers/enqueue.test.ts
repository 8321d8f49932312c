import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { costRefreshWindow, metricsRefreshWindow, type RefreshSettings } from './enqueue.js';

const settings: RefreshSettings = {
  RESTATEMENT_DAYS: 3,
  METRICS_REFRESH_DAYS: 1,
  REFETCH_CURRENT_MONTH: false,
  BILL_CLOSE_DAY: 5,
};

describe('refresh windows', () => {
  it('re-reads the cost restatement days, the previous month until its bill closes, and the earliest Estimated day', () => {
    assert.deepEqual(costRefreshWindow('2026-03-15', settings), { from: '2026-03-12', to: '2026-03-16' });
    assert.deepEqual(costRefreshWindow('2026-03-15', { ...settings, REFETCH_CURRENT_MONTH: true }), {
      from: '2026-03-01',
      to: '2026-03-16',
    });
    assert.deepEqual(costRefreshWindow('2026-03-04', settings), { from: '2026-02-01', to: '2026-03-05' });
    assert.deepEqual(costRefreshWindow('2026-03-15', settings, '2026-03-02'), {
      from: '2026-03-02',
      to: '2026-03-16',
    });
    // An Estimated day older than a year can no longer be refreshed from AWS.
    assert.deepEqual(costRefreshWindow('2026-03-15', settings, '2025-01-02'), {
      from: '2026-03-12',
      to: '2026-03-16',
    });
  });

  it('re-reads only today and METRICS_REFRESH_DAYS of metrics (CloudWatch never restates)', () => {
    assert.deepEqual(metricsRefreshWindow('2026-03-01', settings), { from: '2026-02-28', to: '2026-03-02' });
    assert.deepEqual(metricsRefreshWindow('2026-03-15', { METRICS_REFRESH_DAYS: 7 }), {
      from: '2026-03-08',
      to: '2026-03-16',
    });
  });
});
