/**
 * Synthetic Cost Explorer rows for the load-path benchmarks, shaped like what
 * workers/cost-explorer.ts turns GetCostAndUsage pages into: real service names (spaces, dashes,
 * parentheses), 12-digit linked accounts, regions including `global` and `NoRegion`, amounts as
 * decimal strings with 10 decimals (some negative credits, some zero), the last days Estimated.
 * Deterministic (seeded), so every variant of a run loads exactly the same rows.
 */
import type { CostRow } from '../database/repositories/cost-data.repository.js';
import { copyText } from '../database/copy.js';
import { addDays } from '../lib/dates.js';

export const SERVICES = [
  'Amazon Elastic Compute Cloud - Compute',
  'EC2 - Other',
  'Amazon Relational Database Service',
  'Amazon Simple Storage Service',
  'AmazonCloudWatch',
  'AWS Key Management Service',
  'AWS Data Transfer',
  'AWS CloudTrail',
  'Amazon Virtual Private Cloud',
  'Amazon DynamoDB',
  'AWS Lambda',
  'Amazon Elastic Container Service for Kubernetes',
  'Amazon Elastic Container Service',
  'Amazon OpenSearch Service',
  'Amazon ElastiCache',
  'AWS Support (Business)',
  'Amazon Route 53',
  'Amazon CloudFront',
  'AWS WAF',
  'Amazon Simple Queue Service',
  'Amazon Simple Notification Service',
  'AWS Glue',
  'Amazon Athena',
  'Amazon Kinesis',
  'AWS Backup',
  'Amazon Elastic File System',
  'Amazon Elastic Load Balancing',
  'AWS Secrets Manager',
  'AWS Config',
  'Amazon GuardDuty',
  'AWS Security Hub',
  'Amazon Redshift',
  'Amazon SageMaker',
  'AWS Step Functions',
  'Amazon API Gateway',
  'Amazon EC2 Container Registry (ECR)',
  'AWS Systems Manager',
  'Amazon Cognito',
  'AWS Cost Explorer',
  'Amazon QuickSight',
  'AWS Transfer Family',
  'Amazon MQ',
  'Amazon Managed Streaming for Apache Kafka',
  'AWS Direct Connect',
  'Amazon Lightsail',
  'AWS Elemental MediaConvert',
  'Amazon Textract',
  'Amazon Comprehend',
  'AWS Shield',
  'Amazon Inspector',
  'Amazon Macie',
  'AWS IoT Core',
  'Amazon Timestream',
  'Amazon Neptune',
  'Amazon DocumentDB (with MongoDB compatibility)',
  'AWS AppSync',
  'Amazon WorkSpaces',
  'AWS Amplify',
  'Savings Plans for AWS Compute usage',
  'Tax',
] as const;

export const REGIONS = [
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'ca-central-1',
  'sa-east-1',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'eu-central-1',
  'eu-north-1',
  'eu-south-1',
  'ap-south-1',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-east-1',
  'me-south-1',
  'af-south-1',
  'il-central-1',
  'global',
  'NoRegion',
] as const;

export const COST_COLUMNS =
  'organization_id, cost_date, grouping, service, linked_account, region, unblended_cost, amortized_cost, net_unblended_cost, usage_quantity, unit, estimated, net_amortized_cost';

/** mulberry32: small, fast, seeded (shared by the benchmarks). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RowShape {
  /** First day of the window (the window is `days` long, inside one partition-month). */
  from: string;
  days: number;
  /** Rows wanted in total (rounded up to whole days). */
  rows: number;
  /** Rows per batch (Cost Explorer's page is up to 500 groups). */
  batchSize?: number;
  seed?: number;
  /** Days at the end of the window flagged Estimated. */
  estimatedDays?: number;
}

/**
 * Rows per day: every service in every region (region_service), then service x linked account
 * (account_service) for as many linked accounts as the row count needs. Unique per natural key.
 */
function* rowsOf(shape: RowShape): Generator<CostRow> {
  const perDay = Math.ceil(shape.rows / shape.days);
  const regionRows = Math.min(perDay, SERVICES.length * REGIONS.length);
  const accounts = Math.ceil(Math.max(0, perDay - regionRows) / SERVICES.length);
  const accountIds = Array.from({ length: accounts }, (_, i) =>
    String(210_000_000_000 + i * 7_919_113).padStart(12, '0'),
  );
  const random = prng(shape.seed ?? 42);
  const decimal = (scale: number, negativeShare: number): string => {
    if (random() < 0.03) return '0';
    const value = random() * scale;
    const whole = Math.floor(value);
    const frac = Math.floor((value - whole) * 1e10)
      .toString()
      .padStart(10, '0');
    return `${random() < negativeShare ? '-' : ''}${whole}.${frac}`;
  };
  let emitted = 0;
  for (let d = 0; d < shape.days && emitted < shape.rows; d++) {
    const costDate = addDays(shape.from, d);
    const estimated = d >= shape.days - (shape.estimatedDays ?? 2);
    const make = (
      grouping: CostRow['grouping'],
      service: string,
      linkedAccount: string,
      region: string,
    ): CostRow => {
      const unblended = decimal(500, 0.02);
      return {
        costDate,
        grouping,
        service,
        linkedAccount,
        region,
        unblendedCost: unblended,
        amortizedCost: decimal(500, 0.01),
        netUnblendedCost: unblended,
        netAmortizedCost: unblended,
        usageQuantity: decimal(100_000, 0),
        unit: 'USD',
        estimated,
      };
    };
    let today = 0;
    for (let r = 0; r < REGIONS.length && today < perDay; r++) {
      for (let s = 0; s < SERVICES.length && today < perDay; s++, today++)
        yield make('region_service', SERVICES[s] ?? '', '', REGIONS[r] ?? '');
    }
    for (let a = 0; a < accountIds.length && today < perDay; a++) {
      for (let s = 0; s < SERVICES.length && today < perDay; s++, today++)
        yield make('account_service', SERVICES[s] ?? '', accountIds[a] ?? '', '');
    }
    emitted += today;
  }
}

/** Every row, as an in-memory array of batches (the load benchmark times the load, not generation). */
export function costRowBatchesInMemory(shape: RowShape): CostRow[][] {
  const size = shape.batchSize ?? 500;
  const batches: CostRow[][] = [];
  let batch: CostRow[] = [];
  for (const row of rowsOf(shape)) {
    batch.push(row);
    if (batch.length === size) {
      batches.push(batch);
      batch = [];
    }
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/** The same rows generated lazily, one batch at a time (memory stays flat: the RSS benchmark). */
export async function* streamCostRowBatches(shape: RowShape): AsyncGenerator<CostRow[]> {
  const size = shape.batchSize ?? 500;
  let batch: CostRow[] = [];
  for (const row of rowsOf(shape)) {
    batch.push(row);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** One row in COPY text format, as `replaceCostWindow` sends it (for the psql \copy reference file). */
export function costRowText(orgId: number, row: CostRow): string {
  return (
    `${orgId}\t${row.costDate}\t${row.grouping}\t${copyText(row.service)}\t${copyText(row.linkedAccount)}\t${copyText(row.region)}\t` +
    `${row.unblendedCost}\t${row.amortizedCost}\t${row.netUnblendedCost}\t${row.usageQuantity}\t${copyText(row.unit)}\t${row.estimated ? 't' : 'f'}\t${row.netAmortizedCost}\n`
  );
}

/** The row as bind parameters, in COST_COLUMNS order (for the multi-row INSERT reference). */
export function costRowParams(orgId: number, row: CostRow): Array<string | number | boolean> {
  return [
    orgId,
    row.costDate,
    row.grouping,
    row.service,
    row.linkedAccount,
    row.region,
    row.unblendedCost,
    row.amortizedCost,
    row.netUnblendedCost,
    row.usageQuantity,
    row.unit,
    row.estimated,
    row.netAmortizedCost,
  ];
}
