// A module hook for a child process: every URL the process resolves is appended to a log file, so a test can
// check which modules a command loaded (what a process never loads costs it no memory).
import fs from 'node:fs';
import path from 'node:path';

/** Writes the hook into `dir` and returns the file to pass to `node --import`. */
export function moduleHook(dir: string, log: string): string {
  const hooks = path.join(dir, 'hooks.mjs');
  fs.writeFileSync(
    hooks,
    `import fs from 'node:fs';\nexport async function resolve(specifier, context, next) {\n  const resolved = await next(specifier, context);\n  fs.appendFileSync(${JSON.stringify(log)}, resolved.url + '\\n');\n  return resolved;\n}\n`,
  );
  const register = path.join(dir, 'register.mjs');
  fs.writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(new URL(`file://${hooks}`).href)});\n`);
  return register;
}
