/**
 * Public face of the simulator's data: what tests elsewhere use to compute the expected
 * truth without HTTP. Everything here is deterministic per (data seed, account, day).
 */
export {
  COST_METRICS,
  COST_DIMENSIONS,
  DEFAULT_DATA_SEED,
  ESTIMATED_DAYS,
  expectedDailyTotal,
  finalCostLines,
  linkedAccounts,
  type CostLine,
  type CostMetric,
  type CostDimension,
  type DataOptions,
  type LinkedAccount,
} from './cost-data.js';
export { listInstances, type InstanceInfo, type MetricSpec, type FleetOptions } from './metric-data.js';
export { formatFixed, parseFixed, sumDecimalStrings, MONEY_SCALE } from './money.js';
