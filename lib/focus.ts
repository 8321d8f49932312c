/**
 * FOCUS (FinOps Open Cost and Usage Specification) 1.2 vocabulary CostWatch's exports use: the
 * ServiceCategory of AWS services (FOCUS's allowed values; unmapped services are 'Other').
 */

/** FOCUS 1.2 ServiceCategory per AWS service name as Cost Explorer's SERVICE dimension spells it. */
export const FOCUS_SERVICE_CATEGORIES: Readonly<Record<string, string>> = {
  'Amazon Elastic Compute Cloud - Compute': 'Compute',
  'EC2 - Other': 'Compute',
  'AWS Lambda': 'Compute',
  'Amazon Elastic Container Service': 'Compute',
  'Amazon Elastic Container Service for Kubernetes': 'Compute',
  'Amazon EC2 Container Registry (ECR)': 'Compute',
  'Amazon Simple Storage Service': 'Storage',
  'Amazon Elastic File System': 'Storage',
  'AWS Backup': 'Storage',
  'Amazon Relational Database Service': 'Databases',
  'Amazon DynamoDB': 'Databases',
  'Amazon ElastiCache': 'Databases',
  'Amazon CloudFront': 'Networking',
  'Amazon Route 53': 'Networking',
  'Amazon Virtual Private Cloud': 'Networking',
  'Amazon Elastic Load Balancing': 'Networking',
  'AWS Data Transfer': 'Networking',
  'Amazon API Gateway': 'Networking',
  AmazonCloudWatch: 'Management and Governance',
  'AWS CloudTrail': 'Management and Governance',
  'AWS Config': 'Management and Governance',
  'AWS Cost Explorer': 'Management and Governance',
  'AWS Support (Business)': 'Management and Governance',
  'AWS Key Management Service': 'Security',
  'AWS Secrets Manager': 'Security',
  'Amazon GuardDuty': 'Security',
  'AWS WAF': 'Security',
  'AWS Glue': 'Analytics',
  'Amazon Athena': 'Analytics',
  'Amazon Kinesis': 'Analytics',
  'Amazon OpenSearch Service': 'Analytics',
  'Amazon Simple Queue Service': 'Integration',
  'Amazon Simple Notification Service': 'Integration',
  'AWS Step Functions': 'Integration',
  'Amazon Simple Email Service': 'Business Applications',
};
