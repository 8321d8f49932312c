#!/usr/bin/env node
// Entry point of every CostWatch role and operator command. In a checkout (the TypeScript sources
// are present) it runs them through tsx, so a stale dist/ can never shadow an edit; the container
// image ships only the compiled dist/ and runs that.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const source = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(source).href);
} else {
  await import(pathToFileURL(fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))).href);
}
