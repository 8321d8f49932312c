/** Writes docs/RELIABILITY.md: how to rerun, what each scenario does, the machine, the last table. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from '../../lib/paths.js';
import type { ChaosSize } from './report.js';
import { SCENARIOS } from './scenarios.js';

export async function writeReliabilityDoc(run: { table: string; size: ChaosSize; minutes: string; machine: string; date: string }): Promise<string> {
  const file = path.join(PROJECT_ROOT, 'docs', 'RELIABILITY.md');
  const text = `# Reliability under faults, load and hostile input

CostWatch's chaos suite runs the real roles (\`costwatch worker\`, \`costwatch api\`) as processes against
real Postgres and Redis and the AWS simulator, injects faults, and measures what survives.

## Rerun it

\`\`\`sh
npm run test:chaos                 # full mode (this table), ~${Math.max(1, Math.round(Number(run.minutes)))} minutes; rewrites this file
npm run test:chaos -- --quick      # small sizes, ~3 minutes (also part of \`npm test\`: tests/chaos.test.ts)
npm run test:chaos -- --only kill9,redis   # some scenarios
\`\`\`

The suite provisions its own Postgres and Redis under \`.costwatch/chaos/\` on 127.0.0.1:54339 and
127.0.0.1:63799 (\`stackUp({ stateDir, pgPort, redisPort })\` of lib/stack.ts), because it stops and
restarts them; the instances other tests use (54329/63790) are never touched. Every process it
kills or stops is one it started. Everything listens on 127.0.0.1; every loop is bounded in count and time.
Scenario code: \`tests/chaos/\`; runner: \`scripts/chaos.mjs\`.

## Scenarios

${SCENARIOS.map((s) => `- **${s.id}**: ${s.description}`).join('\n')}

## Last full run

${run.date}, ${run.size.mode} mode, ${run.minutes} min. Machine: ${run.machine}.

${run.table}
`;
  await writeFile(file, text);
  return file;
}
