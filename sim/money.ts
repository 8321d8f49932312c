/**
 * Exact fixed-point money for the simulator. Every amount is a BigInt counting 1e-10 units,
 * so sums over groups, pages and days equal the ungrouped total to the last digit — the
 * property the rest of CostWatch is tested against. Floats never touch an amount.
 */

/** Decimal places carried by every simulated amount. */
export const MONEY_SCALE = 10;
const ONE = 10n ** BigInt(MONEY_SCALE);

/** Formats a fixed-point amount as AWS does: plain decimal, no exponent, no trailing zeros. */
export function formatFixed(value: bigint): string {
  const negative = value < 0n;
  // One BigInt-to-decimal conversion, then string slicing (responses format thousands of amounts).
  const digits = (negative ? -value : value).toString();
  const split = digits.length - MONEY_SCALE;
  const whole = split > 0 ? digits.slice(0, split) : '0';
  const fraction = split > 0 ? digits.slice(split) : digits.padStart(MONEY_SCALE, '0');
  let end = fraction.length;
  while (end > 0 && fraction.charCodeAt(end - 1) === 48) end -= 1;
  const text = end > 0 ? `${whole}.${fraction.slice(0, end)}` : whole;
  return negative ? `-${text}` : text;
}

/**
 * Parses a decimal string (at most 10 decimals) back to fixed point. Tests use it to add
 * `Amount` strings exactly. Throws on anything that is not a plain decimal.
 */
export function parseFixed(text: string): bigint {
  const match = /^(-?)(\d+)(?:\.(\d{1,10}))?$/.exec(text);
  if (!match) throw new Error(`not a fixed-point decimal with at most ${MONEY_SCALE} places: ${text}`);
  const [, sign = '', whole = '0', fraction = ''] = match;
  const units = BigInt(whole) * ONE + BigInt(fraction.padEnd(MONEY_SCALE, '0'));
  return sign === '-' ? -units : units;
}

/** Adds decimal strings exactly and returns the formatted sum. */
export function sumDecimalStrings(values: Iterable<string>): string {
  let total = 0n;
  for (const value of values) total += parseFixed(value);
  return formatFixed(total);
}

/** Whole dollars (or units) expressed in fixed point. */
export function units(whole: number): bigint {
  return BigInt(whole) * ONE;
}

/** `value * numerator / denominator`, truncated toward zero; the one place scaling happens. */
export function scale(value: bigint, numerator: bigint, denominator: bigint): bigint {
  return (value * numerator) / denominator;
}
