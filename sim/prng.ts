/**
 * Seeded hashing and pseudo-random numbers. The data generator draws every value from
 * `hash32(seed, ...coordinates)` so a value depends only on where it is, never on the order
 * requests arrive in; fault injection uses the same idea keyed by request sequence number.
 */

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** 32-bit FNV-1a over the parts, finished with murmur3's fmix32 for avalanche. */
export function hash32(...parts: ReadonlyArray<string | number>): number {
  return finishHash(hashPrefix(...parts));
}

/**
 * The FNV state after `parts`, before the finishing mix: hot loops hash a fixed prefix once
 * and continue it with `hashPrefixedInt`, giving exactly `hash32(...parts, n)`.
 */
export function hashPrefix(...parts: ReadonlyArray<string | number>): number {
  let h = FNV_OFFSET;
  for (const part of parts) h = continueHash(h, String(part));
  return h;
}

/** `hash32(...prefixParts, ...parts)` from `hashPrefix(...prefixParts)`. */
export function hashAfter(prefix: number, ...parts: ReadonlyArray<string | number>): number {
  let h = prefix;
  for (const part of parts) h = extendPrefix(h, part);
  return finishHash(h);
}

/** `hash32(...prefixParts, n)` from `hashPrefix(...prefixParts)`: the sampling hot path. */
export function hashPrefixedInt(prefix: number, n: number): number {
  return finishHash(extendPrefix(prefix, n));
}

const digits = new Uint8Array(16);

/**
 * The prefix state after one more part: `hashPrefix(...prefixParts, part)`. Non-negative
 * integers are folded digit by digit without building `String(part)`.
 */
export function extendPrefix(prefix: number, part: string | number): number {
  if (typeof part === 'string' || !Number.isSafeInteger(part) || part < 0)
    return continueHash(prefix, String(part));
  // The decimal digits, least significant first: the characters of String(part) reversed.
  let count = 0;
  let rest = part;
  do {
    digits[count++] = rest % 10;
    rest = Math.floor(rest / 10);
  } while (rest > 0);
  let h = prefix;
  while (count > 0) {
    h ^= 48 + (digits[--count] ?? 0);
    h = Math.imul(h, FNV_PRIME);
  }
  h ^= 0x1f;
  return Math.imul(h, FNV_PRIME);
}

function continueHash(state: number, text: string): number {
  let h = state;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  // Separator so ('ab','c') and ('a','bc') differ.
  h ^= 0x1f;
  return Math.imul(h, FNV_PRIME);
}

function finishHash(state: number): number {
  let h = state;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Integer in [min, max] (inclusive) derived from the hash of the parts. */
export function hashInt(min: number, max: number, ...parts: ReadonlyArray<string | number>): number {
  return min + (hash32(...parts) % (max - min + 1));
}

/** Uniform number in [0, 1) derived from the hash of the parts. */
export function hashUnit(...parts: ReadonlyArray<string | number>): number {
  return hash32(...parts) / 0x100000000;
}

/** Deterministic sequence generator (mulberry32) for places that need a stream. */
export function createPrng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

/** A stable pseudo-random 12-digit AWS account id for the parts. */
export function accountIdFrom(...parts: ReadonlyArray<string | number>): string {
  const high = hashInt(100000, 999999, ...parts, 'high');
  const low = hashInt(0, 999999, ...parts, 'low');
  return `${high}${String(low).padStart(6, '0')}`;
}
