/**
 * JWT signing-key rules. A key that ships in this repository (compose and dev-overlay defaults,
 * test and benchmark fallbacks, documentation placeholders) is public: anyone could sign an
 * operator token with it. So is a key a person typed ("my-secret-my-secret-..."). The API refuses
 * both at start unless ALLOW_INSECURE_DEV_SECRETS is set; `costwatch doctor` warns about them.
 *
 * "Low entropy" is a heuristic, tuned so `openssl rand -hex 16` (32 hex digits, 128 bits) and
 * longer random keys always pass: an estimate of at least 96 bits (length x Shannon entropy of the
 * characters), at least 10 different characters, no chunk of 6+ characters repeated, no run of 8
 * consecutive characters ("abcdefgh", "12345678") and none of a few words people put in keys.
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

/** Why a signing key must not be used, or null when it looks random enough. */
export function weakKeyReason(key: string): string | null {
  if (REPOSITORY_KEYS.includes(key)) return 'it is a value committed to the CostWatch repository (public)';
  const lower = key.toLowerCase();
  const word = WORDS.find((w) => lower.includes(w));
  if (word) return `it contains the word "${word}" (a typed key, not a random one)`;
  if (new Set(key).size < 10) return 'it has fewer than 10 different characters';
  if (hasRepeatedChunk(key, 6)) return 'a chunk of 6 or more characters repeats in it';
  if (hasAlphabetRun(lower, 8)) return 'it contains a run of consecutive characters';
  const bits = estimatedBits(key);
  if (bits < 96) return `its estimated entropy is ${Math.round(bits)} bits (at least 96 needed)`;
  return null;
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
