/**
 * Password hashing (bcrypt) and the password strength rule of `costwatch user create`.
 *
 * The rule (also in docs/API.md): at least 12 characters and at most 72 bytes (bcrypt ignores
 * anything beyond), at least 6 different characters, no control characters, and not trivially
 * weak: not a run of consecutive characters or keyboard keys ("abcdefghijkl", "123456789012",
 * "qwertyuiopas"), not one chunk repeated ("abcabcabcabc", "secret1secret1"), and not containing a common
 * password ("password", "letmein", "qwerty", ...), the product name or the user's email name.
 */
import bcrypt from 'bcrypt';

export const DEFAULT_BCRYPT_COST = 12;
export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_BYTES = 72;

const COMMON_WORDS = [
  'password',
  'passw0rd',
  'p@ssword',
  'letmein',
  'welcome',
  'qwerty',
  'azerty',
  'iloveyou',
  'admin',
  'changeme',
  'secret',
  'monkey',
  'dragon',
  'football',
  'baseball',
  'sunshine',
  'princess',
  'trustno1',
  'costwatch',
];

const SEQUENCES = [
  'abcdefghijklmnopqrstuvwxyz',
  '0123456789',
  'qwertyuiop',
  'asdfghjkl',
  'zxcvbnm',
  '1qaz2wsx3edc4rfv',
  'qazwsxedcrfv',
];

function isSequence(lower: string): boolean {
  for (const seq of SEQUENCES) {
    const forward = seq.repeat(4);
    const backward = [...forward].reverse().join('');
    if (forward.includes(lower) || backward.includes(lower)) return true;
  }
  return false;
}

function isRepeatedChunk(s: string): boolean {
  const chars = [...s];
  for (let size = 1; size <= chars.length / 2; size++) {
    const chunk = chars.slice(0, size).join('');
    const repeated = chunk.repeat(Math.ceil(chars.length / size)).slice(0, s.length);
    if (repeated === s) return true;
  }
  return false;
}

/** Returns why a password is too weak, or null when it is acceptable. */
export function passwordProblem(password: string, email?: string): string | null {
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH)
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters (got ${length})`;
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES)
    return `password must be at most ${MAX_PASSWORD_BYTES} bytes (bcrypt ignores the rest)`;
  if (/\p{Cc}/u.test(password)) return 'password must not contain control characters';
  if (new Set(password).size < 6) return 'password must contain at least 6 different characters';
  const lower = password.toLowerCase();
  if (isSequence(lower)) return 'password must not be a run of consecutive characters or keyboard keys';
  if (isRepeatedChunk(lower)) return 'password must not be one chunk repeated';
  const word = COMMON_WORDS.find((w) => lower.includes(w));
  if (word) return `password must not contain a common password ("${word}")`;
  const local = email?.split('@')[0]?.toLowerCase();
  if (local && local.length >= 4 && lower.includes(local)) return 'password must not contain your email name';
  return null;
}

/** bcrypt hash at `cost` (default 12). */
export async function hashPassword(password: string, cost = DEFAULT_BCRYPT_COST): Promise<string> {
  return bcrypt.hash(password, cost);
}

/** Constant-time bcrypt comparison; a malformed hash counts as a mismatch. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  try {
    return await bcrypt.compare(password, hash);
  } catch {
    return false;
  }
}
