/**
 * The chaos suite's runner (`npm run test:chaos [-- --quick] [-- --only name,name] [-- --write]`):
 * runs the scenarios one after another on the suite's own Postgres and Redis, prints the figures
 * table, and (a whole full run, or --write) writes it into docs/RELIABILITY.md.
 */
import os from 'node:os';
import { SIZES, formatTable, type ChaosSize, type ScenarioResult } from './report.js';
import { SCENARIOS } from './scenarios.js';
import { writeReliabilityDoc } from './doc.js';

const args = process.argv.slice(2);
const size: ChaosSize = SIZES[args.includes('--quick') ? 'quick' : 'full'];
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? (args[onlyIndex + 1] ?? '').split(',').filter(Boolean) : [];
const selected = SCENARIOS.filter((s) => only.length === 0 || only.includes(s.id));
if (selected.length === 0) {
  process.stderr.write(`no scenario matches ${only.join(',')}; choose from ${SCENARIOS.map((s) => s.id).join(', ')}\n`);
  process.exit(1);
}

const started = Date.now();
const results: ScenarioResult[] = [];
for (const scenario of selected) {
  process.stderr.write(`chaos: ${scenario.id} (${size.mode})...\n`);
  const result = await scenario.run(size);
  results.push(result);
  process.stderr.write(`chaos: ${scenario.id}: ${result.pass ? 'PASS' : 'FAIL'} in ${result.seconds} s${result.failures.length ? `\n  ${result.failures.join('\n  ')}` : ''}\n`);
}
const table = formatTable(results);
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}, Node.js ${process.version}`;
process.stdout.write(`\nCostWatch chaos suite, ${size.mode} mode, ${minutes} min, ${machine}\n\n${table}\n`);
// A partial run (--only) leaves the document of the last whole run alone unless --write asks.
if ((size.mode === 'full' && only.length === 0) || args.includes('--write')) {
  const file = await writeReliabilityDoc({ table, size, minutes, machine, date: new Date().toISOString() });
  process.stdout.write(`\nwritten to ${file}\n`);
}
process.exit(results.every((r) => r.pass) ? 0 : 1);
