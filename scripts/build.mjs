// Compiles the TypeScript sources to dist/ (what `porthole` runs in production), copies the sample server's
// media and web files next to its compiled code (the demo reads them from there), and stamps the build so
// bin/porthole.js can tell a fresh build from a stale one.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

fs.rmSync('dist', { recursive: true, force: true });
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
for (const dir of ['src/demo/media', 'src/demo/share-web', 'src/demo/sample-immich/media']) {
  fs.cpSync(dir, `dist/${dir}`, { recursive: true, filter: (src) => !src.endsWith('.ts') });
}
fs.writeFileSync('dist/BUILD_STAMP', `${new Date().toISOString()}\n`);
