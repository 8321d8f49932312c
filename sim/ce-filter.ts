/**
 * Cost Explorer `Expression` filters (Dimensions with MatchOptions, And/Or/Not), compiled to
 * a predicate over bill lines. Invalid shapes fail with ValidationException like AWS.
 */
import {
  COST_DIMENSIONS,
  dimensionValue,
  lineKeyValue,
  type CostDimension,
  type CostLine,
} from './cost-data.js';
import { SimError } from './errors.js';
import { isRecord } from './input.js';

export type LinePredicate = (line: CostLine) => boolean;

const MATCH_OPTIONS = new Set([
  'EQUALS',
  'ABSENT',
  'STARTS_WITH',
  'ENDS_WITH',
  'CONTAINS',
  'CASE_SENSITIVE',
  'CASE_INSENSITIVE',
  'GREATER_THAN_OR_EQUAL',
]);

export function isCostDimension(key: string): key is CostDimension {
  return (COST_DIMENSIONS as readonly string[]).includes(key);
}

/** Compiles a Filter; undefined input matches everything. */
export function compileFilter(expression: unknown): LinePredicate {
  if (expression === undefined || expression === null) return () => true;
  return compile(expression, 'filter');
}

function compile(expression: unknown, path: string): LinePredicate {
  if (!isRecord(expression)) throw new SimError('Validation', `Expression at ${path} must be a structure`);
  const present = ['And', 'Or', 'Not', 'Dimensions', 'Tags', 'CostCategories'].filter(
    (k) => expression[k] !== undefined && expression[k] !== null,
  );
  if (present.length !== 1) {
    throw new SimError(
      'Validation',
      `Expression at ${path} must specify exactly one of And, Or, Not, Dimensions, Tags, CostCategories (got ${present.join(', ') || 'none'})`,
    );
  }
  const key = present[0];
  if (key === 'And' || key === 'Or') {
    const items = expression[key];
    if (!Array.isArray(items) || items.length < 2)
      throw new SimError('Validation', `${key} at ${path} requires at least two expressions`);
    const parts = items.map((item, i) => compile(item, `${path}.${key}[${i}]`));
    return key === 'And' ? (line) => parts.every((p) => p(line)) : (line) => parts.some((p) => p(line));
  }
  if (key === 'Not') {
    const inner = compile(expression.Not, `${path}.Not`);
    return (line) => !inner(line);
  }
  if (key === 'Dimensions') return compileDimension(expression.Dimensions, `${path}.Dimensions`);
  const type = key === 'Tags' ? 'TAG' : 'COST_CATEGORY';
  const spec: unknown = expression[key ?? 'Tags'];
  if (!isRecord(spec) || typeof spec.Key !== 'string' || spec.Key === '')
    throw new SimError('Validation', `${path}.${key} must be a structure with a Key`);
  const lineKey = { type, key: spec.Key } as const;
  return compileMatch(spec, `${path}.${key}`, (line) => lineKeyValue(line, lineKey));
}

function compileDimension(spec: unknown, path: string): LinePredicate {
  if (!isRecord(spec)) throw new SimError('Validation', `${path} must be a structure`);
  const key = spec.Key;
  if (typeof key !== 'string' || !isCostDimension(key)) {
    throw new SimError(
      'Validation',
      `Dimension ${String(key)} at ${path} is not supported; valid: ${COST_DIMENSIONS.join(', ')}`,
    );
  }
  return compileMatch(spec, path, (line) => dimensionValue(line, key));
}

/** Values + MatchOptions of a Dimensions, Tags or CostCategories expression over `valueOf`. */
function compileMatch(
  spec: Record<string, unknown>,
  path: string,
  valueOf: (line: CostLine) => string,
): LinePredicate {
  const values = Array.isArray(spec.Values)
    ? spec.Values.filter((v): v is string => typeof v === 'string')
    : [];
  const options = Array.isArray(spec.MatchOptions)
    ? spec.MatchOptions.filter((v): v is string => typeof v === 'string')
    : [];
  for (const option of options)
    if (!MATCH_OPTIONS.has(option))
      throw new SimError('Validation', `MatchOption ${option} at ${path} is not valid`);
  if (options.includes('ABSENT')) return (line) => valueOf(line) === '';
  if (values.length === 0) throw new SimError('Validation', `${path}.Values must not be empty`);
  const insensitive = options.includes('CASE_INSENSITIVE');
  const norm = (text: string): string => (insensitive ? text.toLowerCase() : text);
  const wanted = values.map(norm);
  const test = options.includes('STARTS_WITH')
    ? (v: string) => wanted.some((w) => v.startsWith(w))
    : options.includes('ENDS_WITH')
      ? (v: string) => wanted.some((w) => v.endsWith(w))
      : options.includes('CONTAINS')
        ? (v: string) => wanted.some((w) => v.includes(w))
        : (v: string) => wanted.includes(v);
  return (line) => test(norm(valueOf(line)));
}
