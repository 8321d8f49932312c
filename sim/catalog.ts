/**
 * The static shape of the simulated AWS bill: real service names (spaces, punctuation and
 * all), the regions they run in, their usage types and how their spend behaves over a week.
 * Amounts here are typical daily dollars for a mid-sized account before per-account scaling.
 */

/** How a service's spend moves over the week: compute follows working days, storage does not. */
export type SpendPattern = 'compute' | 'storage' | 'requests';

export interface UsageTypeSpec {
  /** Usage type without its region prefix, e.g. `BoxUsage:m5.large`. */
  readonly name: string;
  readonly unit: string;
  readonly operation: string;
  /** Share of the service's spend, in per-mille; a service's shares add to 1000. */
  readonly sharePm: number;
  /** Usage units bought per dollar, used to derive UsageQuantity. */
  readonly unitsPerDollar: number;
  /** EC2/RDS normalization factor (size units per instance hour); 0 when not an instance. */
  readonly normalizationFactor: number;
}

export interface ServiceSpec {
  readonly name: string;
  /** `regional` services run in some of REGIONS; others have a fixed pseudo-region. */
  readonly placement: 'regional' | 'global' | 'NoRegion';
  readonly dailyDollars: number;
  readonly pattern: SpendPattern;
  readonly usageTypes: readonly UsageTypeSpec[];
}

const ut = (
  name: string,
  unit: string,
  operation: string,
  sharePm: number,
  unitsPerDollar: number,
  normalizationFactor = 0,
): UsageTypeSpec => ({ name, unit, operation, sharePm, unitsPerDollar, normalizationFactor });

/** Billed services. Monthly fees (Tax, Support) and Savings Plans are generated separately. */
export const SERVICES: readonly ServiceSpec[] = [
  {
    name: 'Amazon Elastic Compute Cloud - Compute',
    placement: 'regional',
    dailyDollars: 420,
    pattern: 'compute',
    usageTypes: [
      ut('BoxUsage:m5.large', 'Hrs', 'RunInstances', 550, 10, 4),
      ut('BoxUsage:t3.medium', 'Hrs', 'RunInstances', 250, 24, 2),
      ut('SpotUsage:c5.xlarge', 'Hrs', 'RunInstances:SV001', 200, 15, 8),
    ],
  },
  {
    name: 'EC2 - Other',
    placement: 'regional',
    dailyDollars: 130,
    pattern: 'storage',
    usageTypes: [
      ut('EBS:VolumeUsage.gp3', 'GB-Mo', 'CreateVolume-Gp3', 600, 12),
      ut('NatGateway-Hours', 'Hrs', 'NatGateway', 250, 22),
      ut('DataTransfer-Regional-Bytes', 'GB', 'InterZone-In', 150, 100),
    ],
  },
  {
    name: 'Amazon Simple Storage Service',
    placement: 'regional',
    dailyDollars: 95,
    pattern: 'storage',
    usageTypes: [
      ut('TimedStorage-ByteHrs', 'GB-Mo', 'StandardStorage', 750, 43),
      ut('Requests-Tier1', 'Requests', 'PutObject', 250, 200000),
    ],
  },
  {
    name: 'AWS Lambda',
    placement: 'regional',
    dailyDollars: 38,
    pattern: 'requests',
    usageTypes: [
      ut('Lambda-GB-Second', 'Lambda-GB-Second', 'Invoke', 800, 60000),
      ut('Request', 'Requests', 'Invoke', 200, 5000000),
    ],
  },
  {
    name: 'Amazon Relational Database Service',
    placement: 'regional',
    dailyDollars: 260,
    pattern: 'storage',
    usageTypes: [
      ut('InstanceUsage:db.r5.large', 'Hrs', 'CreateDBInstance:0002', 800, 4, 4),
      ut('RDS:GP2-Storage', 'GB-Mo', 'CreateDBInstance:0002', 200, 8),
    ],
  },
  {
    name: 'Amazon DynamoDB',
    placement: 'regional',
    dailyDollars: 44,
    pattern: 'requests',
    usageTypes: [
      ut('ReadCapacityUnit-Hrs', 'ReadCapacityUnit-Hrs', 'CommittedThroughput', 600, 7692),
      ut('TimedStorage-ByteHrs', 'GB-Mo', 'PayPerRequestThroughput', 400, 4),
    ],
  },
  {
    name: 'Amazon CloudFront',
    placement: 'global',
    dailyDollars: 52,
    pattern: 'requests',
    usageTypes: [
      ut('US-DataTransfer-Out-Bytes', 'GB', 'GET', 800, 11),
      ut('US-Requests-Tier1', 'Requests', 'GET', 200, 1000000),
    ],
  },
  {
    name: 'Amazon Route 53',
    placement: 'global',
    dailyDollars: 6,
    pattern: 'storage',
    usageTypes: [
      ut('HostedZone', 'HostedZone', 'HostedZone', 500, 2),
      ut('DNS-Queries', 'Queries', 'Query', 500, 2500000),
    ],
  },
  {
    name: 'AmazonCloudWatch',
    placement: 'regional',
    dailyDollars: 27,
    pattern: 'storage',
    usageTypes: [
      ut('CW:MetricMonitorUsage', 'Metrics', 'MetricStorage', 700, 3),
      ut('CW:Requests', 'Requests', 'GetMetricData', 300, 100000),
    ],
  },
  {
    name: 'Amazon Virtual Private Cloud',
    placement: 'regional',
    dailyDollars: 18,
    pattern: 'storage',
    usageTypes: [ut('VpcEndpoint-Hours', 'Hrs', 'VpcEndpoint', 1000, 100)],
  },
  {
    name: 'Amazon Elastic Load Balancing',
    placement: 'regional',
    dailyDollars: 34,
    pattern: 'compute',
    usageTypes: [
      ut('LoadBalancerUsage', 'Hrs', 'LoadBalancing:Application', 600, 44),
      ut('LCUUsage', 'LCU-Hrs', 'LoadBalancing:Application', 400, 125),
    ],
  },
  {
    name: 'Amazon ElastiCache',
    placement: 'regional',
    dailyDollars: 48,
    pattern: 'storage',
    usageTypes: [ut('NodeUsage:cache.r6g.large', 'NodeHours', 'CreateCacheCluster:0002', 1000, 5, 4)],
  },
  {
    name: 'Amazon Elastic Container Service',
    placement: 'regional',
    dailyDollars: 61,
    pattern: 'compute',
    usageTypes: [
      ut('Fargate-vCPU-Hours:perCPU', 'hours', 'FargateTask', 700, 25),
      ut('Fargate-GB-Hours', 'hours', 'FargateTask', 300, 225),
    ],
  },
  {
    name: 'Amazon Elastic Container Service for Kubernetes',
    placement: 'regional',
    dailyDollars: 7,
    pattern: 'storage',
    usageTypes: [ut('AmazonEKS-Hours:perCluster', 'Hours', 'CreateOperation', 1000, 10)],
  },
  {
    name: 'Amazon EC2 Container Registry (ECR)',
    placement: 'regional',
    dailyDollars: 3,
    pattern: 'storage',
    usageTypes: [ut('TimedStorage-ByteHrs', 'GB-Mo', 'StorageUsage', 1000, 10)],
  },
  {
    name: 'Amazon Simple Queue Service',
    placement: 'regional',
    dailyDollars: 9,
    pattern: 'requests',
    usageTypes: [ut('Requests-RBP', 'Requests', 'SendMessage', 1000, 2500000)],
  },
  {
    name: 'Amazon Simple Notification Service',
    placement: 'regional',
    dailyDollars: 2,
    pattern: 'requests',
    usageTypes: [ut('Requests-Tier1', 'Requests', 'Publish', 1000, 2000000)],
  },
  {
    name: 'AWS Key Management Service',
    placement: 'regional',
    dailyDollars: 5,
    pattern: 'storage',
    usageTypes: [
      ut('KMS-Keys', 'Keys', 'CreateKey', 600, 30),
      ut('KMS-Requests', 'Requests', 'Decrypt', 400, 330000),
    ],
  },
  {
    name: 'AWS Secrets Manager',
    placement: 'regional',
    dailyDollars: 4,
    pattern: 'storage',
    usageTypes: [ut('AWSSecretsManager-Secrets', 'Secrets', 'StoreSecret', 1000, 75)],
  },
  {
    name: 'Amazon Elastic File System',
    placement: 'regional',
    dailyDollars: 12,
    pattern: 'storage',
    usageTypes: [ut('TimedStorage-ByteHrs', 'GB-Mo', 'Storage', 1000, 3)],
  },
  {
    name: 'AWS Glue',
    placement: 'regional',
    dailyDollars: 22,
    pattern: 'compute',
    usageTypes: [ut('ETL-DPU-Hour', 'DPU-Hour', 'GlueJobRun', 1000, 2)],
  },
  {
    name: 'Amazon Athena',
    placement: 'regional',
    dailyDollars: 8,
    pattern: 'compute',
    usageTypes: [ut('DataScannedInTB', 'Terabytes', 'RunQuery', 1000, 1)],
  },
  {
    name: 'Amazon Kinesis',
    placement: 'regional',
    dailyDollars: 14,
    pattern: 'storage',
    usageTypes: [ut('Storage-ShardHour', 'ShardHour', 'shardHourStorage', 1000, 66)],
  },
  {
    name: 'Amazon OpenSearch Service',
    placement: 'regional',
    dailyDollars: 40,
    pattern: 'storage',
    usageTypes: [ut('ESInstance:r6g.large.search', 'Hrs', 'ESDomain', 1000, 6, 4)],
  },
  {
    name: 'AWS CloudTrail',
    placement: 'regional',
    dailyDollars: 3,
    pattern: 'requests',
    usageTypes: [ut('PaidEventsRecorded', 'Events', 'None', 1000, 500000)],
  },
  {
    name: 'AWS Config',
    placement: 'regional',
    dailyDollars: 6,
    pattern: 'requests',
    usageTypes: [ut('ConfigurationItemRecorded', 'ConfigurationItem', 'None', 1000, 333)],
  },
  {
    name: 'Amazon GuardDuty',
    placement: 'regional',
    dailyDollars: 11,
    pattern: 'requests',
    usageTypes: [ut('PaidEventsAnalyzed', 'Events', 'None', 1000, 250000)],
  },
  {
    name: 'AWS WAF',
    placement: 'global',
    dailyDollars: 5,
    pattern: 'requests',
    usageTypes: [ut('WebACL', 'WebACL', 'None', 1000, 6)],
  },
  {
    name: 'Amazon API Gateway',
    placement: 'regional',
    dailyDollars: 16,
    pattern: 'requests',
    usageTypes: [ut('ApiGatewayRequest', 'Requests', 'ApiGatewayRequest', 1000, 285000)],
  },
  {
    name: 'AWS Step Functions',
    placement: 'regional',
    dailyDollars: 3,
    pattern: 'requests',
    usageTypes: [ut('StateTransition', 'StateTransitions', 'StateTransition', 1000, 40000)],
  },
  {
    name: 'AWS Backup',
    placement: 'regional',
    dailyDollars: 7,
    pattern: 'storage',
    usageTypes: [ut('WarmStorage-ByteHrs-EBS', 'GB-Mo', 'Storage', 1000, 20)],
  },
  {
    name: 'AWS Data Transfer',
    placement: 'regional',
    dailyDollars: 21,
    pattern: 'requests',
    usageTypes: [ut('DataTransfer-Out-Bytes', 'GB', 'PublicIP-Out', 1000, 11)],
  },
  {
    name: 'AWS Cost Explorer',
    placement: 'global',
    dailyDollars: 1,
    pattern: 'requests',
    usageTypes: [ut('APIRequest', 'Requests', 'GetCostAndUsage', 1000, 100)],
  },
  {
    name: 'Amazon Simple Email Service',
    placement: 'regional',
    dailyDollars: 2,
    pattern: 'requests',
    usageTypes: [ut('Message', 'Count', 'Send', 1000, 10000)],
  },
];

export const TAX_SERVICE = 'Tax';
export const SUPPORT_SERVICE = 'AWS Support (Business)';
export const SAVINGS_PLANS_SERVICE = 'Savings Plans for AWS Compute usage';
export const EC2_COMPUTE_SERVICE = 'Amazon Elastic Compute Cloud - Compute';

/** Regions regional services may run in, with the usage-type prefix AWS uses for each. */
export const REGIONS: ReadonlyArray<{ readonly code: string; readonly prefix: string }> = [
  { code: 'us-east-1', prefix: '' },
  { code: 'us-west-2', prefix: 'USW2-' },
  { code: 'eu-west-1', prefix: 'EU-' },
  { code: 'eu-central-1', prefix: 'EUC1-' },
  { code: 'ap-southeast-2', prefix: 'APS2-' },
  { code: 'ap-northeast-1', prefix: 'APN1-' },
];

/** Names given to linked (member) accounts, in order. */
export const LINKED_ACCOUNT_NAMES = [
  'Production',
  'Staging',
  'Development',
  'Data Platform',
  'Security',
  'Sandbox',
];

/** Weekly multipliers in per-mille, Sunday first. */
export const WEEKLY_PM: Readonly<Record<SpendPattern, readonly number[]>> = {
  compute: [820, 1060, 1090, 1100, 1080, 1040, 810],
  requests: [900, 1030, 1050, 1060, 1040, 1010, 880],
  storage: [1000, 1000, 1000, 1000, 1000, 1000, 1000],
};

/**
 * Cost allocation tags of the simulated bill. `team` is set on most (member account, service)
 * pairs (the rest is untagged spend), `env` follows the account (not on every service), and
 * `cost-center` only on a few core services. Fees (tax, support, refunds, Savings Plan fees)
 * carry no tags.
 */
export const TEAM_VALUES = ['payments', 'search', 'platform', 'data-science'] as const;
/** Per-mille of (member, service) pairs tagged with a team. */
export const TEAM_TAGGED_PM = 800;
export const ENV_BY_ACCOUNT: Readonly<Record<string, string>> = {
  Management: 'shared',
  Production: 'prod',
  Staging: 'staging',
  Development: 'dev',
  'Data Platform': 'prod',
  Sandbox: 'dev',
};
export const COST_CENTER_SERVICES: Readonly<Record<string, string>> = {
  'Amazon Elastic Compute Cloud - Compute': 'cc-1001',
  'Amazon Relational Database Service': 'cc-1002',
  'Amazon Simple Storage Service': 'cc-1003',
};
export const TAG_KEYS = ['cost-center', 'env', 'team'] as const;

/** Cost categories (rules over tags and accounts, as AWS Cost Categories are defined). */
export const PRODUCT_BY_TEAM: Readonly<Record<string, string>> = {
  payments: 'Checkout',
  search: 'Discovery',
  platform: 'Core Platform',
  'data-science': 'Analytics',
};
export const COST_CATEGORY_NAMES = ['Environment', 'Product'] as const;
