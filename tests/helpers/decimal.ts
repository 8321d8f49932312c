/** Decimal strings compared by value in tests: '1.50' equals '1.5000000000', '-0.0' equals '0'. */
export function normDecimal(decimal: string): string {
  const negative = decimal.startsWith('-');
  const [int = '0', frac = ''] = decimal.replace('-', '').split('.');
  const f = frac.replace(/0+$/, '');
  const i = int.replace(/^0+(?=\d)/, '');
  const out = f ? `${i}.${f}` : i;
  return negative && out !== '0' ? `-${out}` : out;
}
