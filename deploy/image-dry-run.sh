#!/usr/bin/env bash
# Repeats the Dockerfile's steps without a Docker engine, for machines that have none: the build context as
# .dockerignore leaves it, the build stage's commands, then the runtime stage's files alone (no sources, no dev
# modules), made read-only and run as an unprivileged user: `--version`, and `serve` until its health
# listener answers, writing only to the data directory. Needs node, npm and the registry; takes a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The build context: what .dockerignore lets through (its allow-list, read back from the file).
mkdir -p "$work/build"
grep '^!' .dockerignore | sed 's/^!//; s#/$##' | while read -r keep; do
  mkdir -p "$work/build/$(dirname "$keep")"
  cp -r "$keep" "$work/build/$keep"
done
( cd "$work/build"
  npm ci --ignore-scripts --no-audit --no-fund >/dev/null
  npm rebuild better-sqlite3 esbuild >/dev/null
  node scripts/build.mjs
  npm prune --omit=dev --ignore-scripts --no-audit --no-fund >/dev/null
  find node_modules/better-sqlite3/build -mindepth 1 -maxdepth 1 ! -name Release -exec rm -rf {} +
  find node_modules/better-sqlite3/build/Release -mindepth 1 -maxdepth 1 ! -name better_sqlite3.node -exec rm -rf {} +
  rm -rf node_modules/better-sqlite3/deps node_modules/better-sqlite3/src )
# The runtime stage: only these four.
mkdir -p "$work/app" "$work/data" "$work/config"
for f in package.json node_modules dist bin; do cp -r "$work/build/$f" "$work/app/$f"; done
# Every production dependency loads from the runtime tree alone.
( cd "$work/app" && node --input-type=module -e "
  const pkg = JSON.parse(await (await import('node:fs/promises')).readFile('package.json', 'utf8'));
  for (const name of Object.keys(pkg.dependencies)) await import(name);
  console.log('production dependencies load:', Object.keys(pkg.dependencies).length);
" )
echo "runtime image content: $(du -sh "$work/app" | cut -f1) (node_modules $(du -sh "$work/app/node_modules" | cut -f1))"
health_port=${HEALTH_PORT:-$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
cat > "$work/config/porthole.yaml" <<YAML
listen: { address: 127.0.0.1, httpPort: 0, httpsPort: 0 }
hosts: { private: photos.localhost, share: share.localhost }
origin: { url: "http://127.0.0.1:9" }
gate: { allow: [alice@example.com] }
mail: { from: porthole@example.com, transport: console }
dataDir: $work/data
health: { address: 127.0.0.1, port: $health_port }
YAML
chmod -R a-w "$work/app" "$work/config"
chown -R nobody "$work/data" && chmod 700 "$work/data"
chmod 755 "$work"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
as_nobody node "$work/app/bin/porthole.js" --version
as_nobody env NODE_ENV=production node "$work/app/bin/porthole.js" serve --config "$work/config/porthole.yaml" &
pid=$!
for _ in $(seq 1 100); do
  # Only our own process counts: it must still be running when the check passes.
  kill -0 "$pid" 2>/dev/null || { echo "porthole serve exited" >&2; exit 1; }
  if PORTHOLE_HEALTH_URL="http://127.0.0.1:$health_port/live" as_nobody node "$work/app/bin/healthcheck.mjs" && kill -0 "$pid" 2>/dev/null; then
    echo "healthcheck: healthy"
    kill "$pid"; wait "$pid" || true
    echo "written outside the data directory: $(find "$work/app" "$work/config" -newer "$work/config/porthole.yaml" | wc -l) files"
    echo "data directory: $(ls "$work/data" | tr '\n' ' ')"
    exit 0
  fi
  sleep 0.2
done
kill "$pid" || true
echo "healthcheck never answered" >&2
exit 1
