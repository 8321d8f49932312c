/**
 * JWT signing-key rules. A key that ships in this repository (compose and dev-overlay defaults,
 * test and benchmark fallbacks, documentation placeholders) is public: anyone could sign an
 * operator token with it. So is a key a person typed ("my-secret-my-secret-..."). The API refuses
 * both at start unless ALLOW_INSECURE_DEV_SECRETS is set; `costwatch doctor` warns about them.
 *
 * "Typed" is a heuristic, tuned so a key from `openssl rand -hex 16` (32 hex digits, 128 bits) or
 * longer, or `openssl rand -base64 32` (44 characters) or longer, is refused less than once in a
 * billion keys. (`openssl rand -base64 24`, the shortest base64 key the minimum allows, is refused
 * about twice in 100,000: a "test" inside it leaves 28 characters, estimated under 128 bits. The
 * refusal names `openssl rand -base64 48`.) Each rule's
 * rate for 32 random hex digits (the weakest random key the 32-character minimum allows):
 * - fewer than 7 different characters: 1.8e-10 (exact, from Stirling numbers of 32 draws from 16);
 * - a chunk of 10 characters repeated: below 2.3e-10 (253 pairs of windows x 16^-10);
 * - a run of 10 consecutive characters ("0123456789", "abcdefghij"): below 4.2e-11;
 * - an entropy estimate (length x Shannon entropy of the characters) under 72 bits: about 2e-11
 *   (extrapolated from 2e8 random keys: the lowest estimate was 80 bits, 4.5e-8 of them fell in
 *   80-84 and the tail falls about 12x every 4 bits);
 * - a word people put in keys ("secret", "test", ...) counts only when the key without its words
 *   is weak or estimated under 128 bits: a random key that happens to contain "TeSt" is still
 *   random (rules with a 4-letter word refused 1 base64 key in 15,000 before), while
 *   "my-test-key-for-production-2026" is refused.
 * Base64 keys of 43+ characters are far below these rates. The previous thresholds
 * (10 characters, chunks of 6, runs of 8, 96 bits, any word) refused 1 hex key in 5,000.
 */
import { createHash } from 'node:crypto';

/**
 * Every JWT key value committed to this repository, found by
 * `git grep -nE "JWT_SECRET_KEYS?[=:'\" ]"` over docker-compose.yml, k8s/, docs/, tests/, bench/
 * (tests/security-secrets.test.ts re-runs that search and fails when a new one is not listed here).
 */
export const REPOSITORY_KEYS: readonly string[] = [
  'dev-only-insecure-jwt-secret-change-me-0123456789',
  'test-secret-test-secret-test-secret-1234',
  'ops-test-secret-ops-test-secret-0123456789',
  'bench-secret-bench-secret-bench-secret-1234',
  'REPLACE_ME',
];

const WORDS = [
  'secret',
  'password',
  'passw0rd',
  'changeme',
  'change-me',
  'insecure',
  'example',
  'replace',
  'default',
  'costwatch',
  'test',
  'qwerty',
  'letmein',
];

const ALPHABET_RUNS = ['abcdefghijklmnopqrstuvwxyz', '0123456789'];

/** Shannon entropy of the character distribution times the length, in bits (an upper-bound estimate). */
export function estimatedBits(key: string): number {
  const chars = [...key];
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}

function hasRepeatedChunk(key: string, size: number): boolean {
  const seen = new Set<string>();
  for (let i = 0; i + size <= key.length; i++) {
    const chunk = key.slice(i, i + size);
    if (seen.has(chunk)) return true;
    seen.add(chunk);
  }
  return false;
}

function hasAlphabetRun(lower: string, length: number): boolean {
  for (const run of ALPHABET_RUNS) {
    const reversed = [...run].reverse().join('');
    for (let i = 0; i + length <= run.length; i++) {
      if (lower.includes(run.slice(i, i + length)) || lower.includes(reversed.slice(i, i + length)))
        return true;
    }
  }
  return false;
}

/** Why a key without a repository value or word must not be used, or null. */
function patternReason(key: string): string | null {
  if (new Set(key).size < 7) return 'it has fewer than 7 different characters';
  if (hasRepeatedChunk(key, 10)) return 'a chunk of 10 or more characters repeats in it';
  if (hasAlphabetRun(key.toLowerCase(), 10)) return 'it contains a run of consecutive characters';
  const bits = estimatedBits(key);
  if (bits < 72) return `its estimated entropy is ${Math.round(bits)} bits (at least 72 needed)`;
  return null;
}

/** Why a signing key must not be used, or null when it looks random enough. */
export function weakKeyReason(key: string): string | null {
  if (REPOSITORY_KEYS.includes(key)) return 'it is a value committed to the CostWatch repository (public)';
  const lower = key.toLowerCase();
  const word = WORDS.find((w) => lower.includes(w));
  if (word) {
    // The key without any of its words (case-insensitive).
    const rest = key.replace(new RegExp(WORDS.join('|'), 'gi'), '');
    if (patternReason(rest) !== null || estimatedBits(rest) < 128)
      return `it contains the word "${word}" (a typed key, not a random one)`;
  }
  return patternReason(key);
}

/** The fix named in every refusal. */
export const KEY_FIX =
  'generate one with `openssl rand -base64 48` and set it in JWT_SECRET_KEY (or first in JWT_SECRET_KEYS); ' +
  'for a throw-away local setup only, set ALLOW_INSECURE_DEV_SECRETS=true';

/** A short, non-reversible identifier of a key for the JWT `kid` header (first 16 hex of SHA-256). */
export function keyId(key: string): string {
  return createHash('sha256').update(`costwatch-jwt-kid\n${key}`).digest('hex').slice(0, 16);
}

/** Redis key the api sets (1 day) when requests carry X-Forwarded-For while TRUST_PROXY is unset; the doctor reads it. */
export function forwardedSeenKey(prefix: string): string {
  return `${prefix}:security:forwarded-without-trust-proxy`;
}
