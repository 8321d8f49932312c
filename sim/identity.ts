/**
 * Which account a request belongs to, from its SigV4 access key id, and the temporary
 * credentials AssumeRole hands out. Temporary keys look like STS's (`ASIA` + 16 characters)
 * with the role's 12-digit account embedded, so later Cost Explorer and CloudWatch calls made
 * with them are attributed to that account. Signatures are not verified.
 */
import { hash32 } from './prng.js';

const SESSION_PREFIX = 'FwoGZXIvYXdzE';

/**
 * Account id for an access key: `ASIA<12 digits>...` temporary keys carry it at a fixed
 * place; any other key containing a 12-digit run maps to that number; otherwise the default.
 */
export function accountForAccessKey(accessKeyId: string, defaultAccountId: string): string {
  const temporary = /^ASIA(\d{12})/.exec(accessKeyId);
  if (temporary?.[1]) return temporary[1];
  const embedded = /(\d{12})/.exec(accessKeyId);
  return embedded?.[1] ?? defaultAccountId;
}

export interface IssuedCredentials {
  readonly AccessKeyId: string;
  readonly SecretAccessKey: string;
  readonly SessionToken: string;
  readonly Expiration: Date;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function pseudoRandomText(
  length: number,
  alphabet: string,
  ...parts: ReadonlyArray<string | number>
): string {
  let out = '';
  for (let i = 0; out.length < length; i++) {
    let h = hash32(...parts, i);
    for (let k = 0; k < 4 && out.length < length; k++) {
      out += alphabet[h % alphabet.length] ?? 'A';
      h = Math.floor(h / alphabet.length);
    }
  }
  return out;
}

/** Mints temporary credentials for a role account; `serial` makes each issue distinct. */
export function issueCredentials(
  accountId: string,
  roleArn: string,
  expiresAtMs: number,
  serial: number,
  seed: string,
  sessionName = 'session',
): IssuedCredentials {
  const suffix = pseudoRandomText(4, ALPHABET, seed, roleArn, serial, 'akid');
  const payload = Buffer.from(
    JSON.stringify({ a: accountId, e: expiresAtMs, r: roleArn, n: serial, s: sessionName }),
    'utf8',
  ).toString('base64url');
  return {
    AccessKeyId: `ASIA${accountId}${suffix}`,
    SecretAccessKey: pseudoRandomText(
      40,
      `${ALPHABET}abcdefghijklmnopqrstuvwxyz+/`,
      seed,
      roleArn,
      serial,
      'secret',
    ),
    SessionToken: `${SESSION_PREFIX}${payload}`,
    Expiration: new Date(Math.floor(expiresAtMs / 1000) * 1000),
  };
}

/** Role ARN and session name of a session token this simulator issued; undefined for foreign tokens. */
export function sessionIdentity(sessionToken: string): { roleArn: string; sessionName: string } | undefined {
  if (!sessionToken.startsWith(SESSION_PREFIX)) return undefined;
  try {
    const decoded: unknown = JSON.parse(
      Buffer.from(sessionToken.slice(SESSION_PREFIX.length), 'base64url').toString('utf8'),
    );
    if (typeof decoded === 'object' && decoded !== null && 'r' in decoded && typeof decoded.r === 'string')
      return {
        roleArn: decoded.r,
        sessionName: 's' in decoded && typeof decoded.s === 'string' ? decoded.s : 'session',
      };
  } catch {
    return undefined;
  }
  return undefined;
}

/** Expiry (epoch ms) of a session token this simulator issued; undefined for foreign tokens. */
export function sessionExpiry(sessionToken: string): number | undefined {
  if (!sessionToken.startsWith(SESSION_PREFIX)) return undefined;
  try {
    const decoded: unknown = JSON.parse(
      Buffer.from(sessionToken.slice(SESSION_PREFIX.length), 'base64url').toString('utf8'),
    );
    if (typeof decoded === 'object' && decoded !== null && 'e' in decoded && typeof decoded.e === 'number')
      return decoded.e;
  } catch {
    return undefined;
  }
  return undefined;
}
