#!/usr/bin/env node
// The `porthole` command. Runs the compiled build (dist/, made by `npm run build`, which `npm ci` runs) when it
// is at least as new as every source file; otherwise runs the TypeScript sources through tsx, so a checkout
// that is being edited never runs stale code.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const compiled = path.join(root, 'dist/src/cli/main.js');

function newestSourceMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMtime(full) : fs.statSync(full).mtimeMs);
  }
  return newest;
}

function buildIsFresh() {
  try {
    const stamp = fs.statSync(path.join(root, 'dist/BUILD_STAMP')).mtimeMs;
    const sources = ['src'].map((d) => path.join(root, d)).filter((d) => fs.existsSync(d));
    return sources.every((dir) => newestSourceMtime(dir) <= stamp);
  } catch {
    return false;
  }
}

if (buildIsFresh()) {
  await import(compiled);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
