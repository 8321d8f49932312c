/**
 * Small readers for decoded request input. JSON carries real numbers and arrays; awsQuery
 * carries strings; these accept both so one handler serves both protocols.
 */
import { SimError, type ErrorKind } from './errors.js';

export type Input = Record<string, unknown>;

export function isRecord(value: unknown): value is Input {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function optionalString(
  input: Input,
  key: string,
  kind: ErrorKind = 'Validation',
): string | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new SimError(kind, `${key} must be a string`);
  return value;
}

export function requiredString(input: Input, key: string, missingKind: ErrorKind = 'Validation'): string {
  const value = optionalString(input, key, missingKind);
  if (value === undefined || value === '') {
    throw new SimError(
      missingKind,
      `1 validation error detected: Value null at '${lowerFirst(key)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

export function optionalNumber(
  input: Input,
  key: string,
  kind: ErrorKind = 'Validation',
): number | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  const parsed =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && value.trim() !== ''
        ? Number(value)
        : Number.NaN;
  if (!Number.isFinite(parsed)) throw new SimError(kind, `${key} must be a number`);
  return parsed;
}

export function optionalList(
  input: Input,
  key: string,
  kind: ErrorKind = 'Validation',
): unknown[] | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new SimError(kind, `${key} must be a list`);
  return value.filter((item) => item !== undefined);
}

export function optionalRecord(input: Input, key: string, kind: ErrorKind = 'Validation'): Input | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (!isRecord(value)) throw new SimError(kind, `${key} must be a structure`);
  return value;
}

/** Timestamps: JSON sends epoch seconds, awsQuery ISO 8601. Returns epoch seconds. */
export function optionalTimestamp(
  input: Input,
  key: string,
  kind: ErrorKind = 'InvalidParameterValue',
): number | undefined {
  const value = input[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const asNumber = Number(value);
    if (value.trim() !== '' && Number.isFinite(asNumber)) return asNumber;
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms / 1000;
  }
  throw new SimError(kind, `The parameter ${key} must be a valid timestamp.`);
}

export function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
