/**
 * Opaque paging tokens bound to the request that produced them. The token carries the
 * position plus a fingerprint of every other request field; replaying it with a different
 * request (or tampering with it) is rejected as an invalid token, as AWS does.
 */
import { hash32 } from './prng.js';

export interface TokenState {
  /** Position of the next item. */
  readonly offset: number;
  /** Extra state pinned for the whole paged read (e.g. the estimate revision). */
  readonly pin: number;
}

/** Fingerprint of a request input, ignoring its paging token field. */
export function requestFingerprint(
  scope: string,
  input: Record<string, unknown>,
  tokenField: string,
): number {
  const rest = Object.fromEntries(Object.entries(input).filter(([key]) => key !== tokenField));
  return hash32(scope, canonicalJson(rest));
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export function encodePageToken(fingerprint: number, state: TokenState): string {
  const payload = `${state.offset}.${state.pin}.${fingerprint}`;
  const check = hash32('page-token', payload).toString(36);
  return Buffer.from(`${payload}.${check}`, 'utf8').toString('base64url');
}

/** Decodes a token, or undefined if it is malformed or belongs to another request. */
export function decodePageToken(token: string, fingerprint: number): TokenState | undefined {
  const text = Buffer.from(token, 'base64url').toString('utf8');
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const [offset, pin, print, check] = parts;
  const payload = `${offset}.${pin}.${print}`;
  if (hash32('page-token', payload).toString(36) !== check) return undefined;
  if (Number(print) !== fingerprint) return undefined;
  const state = { offset: Number(offset), pin: Number(pin) };
  return Number.isSafeInteger(state.offset) && state.offset >= 0 && Number.isSafeInteger(state.pin)
    ? state
    : undefined;
}
