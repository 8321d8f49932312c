/**
 * The dimensions anomaly detection runs on, and those it explains an anomaly with (its root
 * causes). Root-cause dimensions are the dimension registry's (lib/dimensions.ts): every dimension
 * the organization's fetch loads (`orgDimensions`) whose rows hold the detected dimension's value,
 * so usage type, tracked tags and cost categories become contributors where they are loaded.
 */
import { BUILTIN_DIMENSIONS, type Dimension } from './dimensions.js';

/** A series the detector scores: one value of one of these dimensions, per day. */
export const DETECTED_DIMENSIONS = ['service', 'account'] as const;
export type DetectedDimension = (typeof DETECTED_DIMENSIONS)[number];

/** A dimension an anomaly's excess is split over: a registry dimension's name. */
export type ContributorDimension = string;

/** Loaded dimensions that are never root causes: the record type says how AWS billed, not what cost. */
const NOT_ROOT_CAUSES: ReadonlySet<string> = new Set(['record_type']);

function registryEntry(name: DetectedDimension): Dimension {
  const d = BUILTIN_DIMENSIONS.find((b) => b.name === name);
  if (!d) throw new Error(`dimension ${name} is not in the registry`);
  return d;
}

/**
 * Per detected dimension, the loaded dimensions its cost can be split by. Cost Explorer is read as
 * SERVICE x <dimension>, so every grouping holds the service: a service splits by every other
 * loaded dimension (account, region, usage type, tags, cost categories); an account only by what
 * is stored with it (the SERVICE x LINKED_ACCOUNT rows: the service). Order: `loaded`'s (the
 * always-loaded built-ins, then the tracked dimensions).
 */
export function rootCauseDimensions(detected: DetectedDimension, loaded: readonly Dimension[]): Dimension[] {
  const self = registryEntry(detected);
  return loaded.filter(
    (d) =>
      d.name !== self.name &&
      !NOT_ROOT_CAUSES.has(d.name) &&
      (self.name === 'service' || d.grouping === self.grouping),
  );
}

/** Contributors kept per contributor dimension, largest share of the excess first. */
export const ROOT_CAUSES_PER_DIMENSION = 3;

export function isDetectedDimension(value: string): value is DetectedDimension {
  return (DETECTED_DIMENSIONS as readonly string[]).includes(value);
}
