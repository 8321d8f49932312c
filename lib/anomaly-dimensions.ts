/**
 * The dimensions anomaly detection runs on, and those it explains an anomaly with (its root
 * causes). The one list of them: when the dimension registry (lib/dimensions.ts) lands, this maps
 * onto its entries (usage type and tags become contributors where they are loaded).
 */

/** A series the detector scores: one value of one of these dimensions, per day. */
export const DETECTED_DIMENSIONS = ['service', 'account'] as const;
export type DetectedDimension = (typeof DETECTED_DIMENSIONS)[number];

/** A dimension an anomaly's excess is split over. */
export type ContributorDimension = 'service' | 'account' | 'region';

/**
 * Per detected dimension, the other loaded dimensions its cost can be split by. Cost Explorer is
 * read as SERVICE x LINKED_ACCOUNT and SERVICE x REGION, so a service splits by account and region,
 * and an account by service.
 */
export const ROOT_CAUSE_DIMENSIONS: Record<DetectedDimension, readonly ContributorDimension[]> = {
  service: ['account', 'region'],
  account: ['service'],
};

/** Contributors kept per contributor dimension, largest share of the excess first. */
export const ROOT_CAUSES_PER_DIMENSION = 3;

export function isDetectedDimension(value: string): value is DetectedDimension {
  return (DETECTED_DIMENSIONS as readonly string[]).includes(value);
}
