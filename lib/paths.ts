/** Locations inside the CostWatch package, valid from the sources (tsx) and from dist/ alike. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'database', 'migrations')))
      return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the CostWatch package root above ${start}`);
    dir = parent;
  }
}

/** The package root (where package.json and database/migrations are). */
export const PROJECT_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));
/** Numbered SQL migrations. */
export const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'database', 'migrations');
