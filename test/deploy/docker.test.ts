// The Docker files, checked as far as a machine without a Docker engine allows: the Dockerfile parsed and
// linted (dockerfile-utils) plus the image rules this project promises; the compose files validated against
// the Compose specification's JSON schema (as shipped in dclint) and linted by dclint; every variable they
// use documented in .env.example; the sample configs accepted by Porthole's own config loader; and the
// image's healthcheck script run against a real health listener.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { parse } from 'yaml';
import { loadConfigFile } from '../../src/config/load.js';
import { startHealth } from '../../src/health/index.js';
import { createDirectOrigin } from '../../src/origin/direct.js';

const run = promisify(execFile);
const dockerfile = fs.readFileSync('Dockerfile', 'utf8');
/** dclint's package folder (its exports do not name the schema or the CLI). */
const DCLINT = path.resolve('node_modules/dclint');
const COMPOSE_FILES = ['deploy/compose.vps.yaml', 'deploy/compose.home.yaml'];

/** Instructions with continuation lines joined, comments dropped. */
function instructions(text: string): { op: string; args: string }[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

test('Dockerfile: parses without a diagnostic', () => {
  assert.deepEqual(
    lintDockerfile(dockerfile).map((d) => `${d.range.start.line + 1}: ${d.message}`),
    [],
  );
  // The linter does find problems (so an empty list above means something).
  assert.ok(lintDockerfile('FROM node:24\nEXPOSE http\nCOPY only-one\n').length >= 2);
});

test('Dockerfile: multi-stage on Node 24, non-root, data volume, healthcheck, lean layers', () => {
  const all = instructions(dockerfile);
  const arg = all.find((i) => i.op === 'ARG' && i.args.startsWith('NODE_IMAGE='));
  assert.match(arg?.args ?? '', /^NODE_IMAGE=node:24-[a-z]+-slim$/, 'Node 24 LTS, slim');
  const froms = all.filter((i) => i.op === 'FROM');
  assert.ok(froms.length >= 2, 'multi-stage');
  const finalStart = all.lastIndexOf(froms.at(-1)!);
  const final = all.slice(finalStart);
  const users = final.filter((i) => i.op === 'USER');
  assert.ok(users.length > 0 && !/^(root|0)(:|$)/.test(users.at(-1)!.args), 'the final stage runs as a non-root user');
  assert.ok(final.findIndex((i) => i.op === 'USER') < final.findIndex((i) => i.op === 'ENTRYPOINT'));
  assert.ok(final.some((i) => i.op === 'VOLUME' && i.args.includes('/data')));
  assert.ok(final.some((i) => i.op === 'HEALTHCHECK' && i.args.includes('bin/healthcheck.mjs')));
  // The runtime stage copies built artefacts only: no sources, no compilers, no apt.
  for (const i of final) {
    if (i.op === 'COPY') assert.match(i.args, /^--from=build /, i.args);
    if (i.op === 'RUN') assert.doesNotMatch(i.args, /apt-get|npm (ci|install)/, i.args);
  }
  // apt in the build stage: no recommends, lists removed in the same layer.
  for (const i of all.filter((x) => x.op === 'RUN' && x.args.includes('apt-get install'))) {
    assert.match(i.args, /--no-install-recommends/);
    assert.match(i.args, /rm -rf \/var\/lib\/apt\/lists/);
  }
  assert.ok(!all.some((i) => i.op === 'ADD'), 'COPY, never ADD');
  assert.ok(!all.some((i) => i.op === 'RUN' && /(^|&&\s*)cd\s/.test(i.args)), 'WORKDIR, not cd, changes directories');
  // Production modules only in what is copied over.
  assert.ok(all.some((i) => i.op === 'RUN' && /npm prune --omit=dev/.test(i.args)));
});

test('Dockerfile: every file the build copies exists and survives .dockerignore', () => {
  const allowed = fs
    .readFileSync('.dockerignore', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/$/, ''));
  const sources = instructions(dockerfile)
    .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
    .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
  assert.ok(sources.length >= 5);
  for (const source of sources) {
    assert.ok(fs.existsSync(source), `${source} exists`);
    assert.ok(
      allowed.some((a) => source.replace(/\/$/, '') === a || source.startsWith(`${a}/`)),
      `${source} is in the build context`,
    );
  }
  // What the build needs from the sources is all there: tsconfig.build.json's inputs.
  const build = JSON.parse(fs.readFileSync('tsconfig.build.json', 'utf8')) as { include: string[] };
  for (const input of build.include)
    assert.ok(
      allowed.some((a) => input === a || input.startsWith(`${a}/`)),
      `${input} reaches the build`,
    );
});

test('compose files: valid against the Compose specification schema', () => {
  // The file names draft-07 by its https URI, which Ajv registers under http: compile it as the draft-07 it is.
  const { $schema, ...schema } = JSON.parse(fs.readFileSync(path.join(DCLINT, 'schemas/compose.schema.json'), 'utf8')) as Record<string, unknown>;
  assert.match(String($schema), /draft-07/);
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const check = ajv.compile(schema);
  for (const file of COMPOSE_FILES) {
    const doc = parse(fs.readFileSync(file, 'utf8'));
    assert.equal(check(doc), true, `${file}: ${ajv.errorsText(check.errors)}`);
  }
  // The schema does reject what Compose would reject.
  assert.equal(check({ services: { porthole: { image: 'x', readonly: true } } }), false, 'a misspelt key');
  assert.equal(check({ services: { porthole: { image: 'x', networks: 5 } } }), false, 'a wrong type');
  assert.equal(check({ servics: {} }), false, 'a misspelt top-level key');
});

test('compose files: pass dclint', async () => {
  const bin = path.join(DCLINT, 'bin/dclint.cjs');
  const { stdout } = await run(process.execPath, [bin, ...COMPOSE_FILES.map((f) => path.basename(f))], { cwd: 'deploy' });
  assert.doesNotMatch(stdout, /error|warning/i, stdout);
});

test('compose files: ports, volume, network and hardening as the guide says', () => {
  const vps = parse(fs.readFileSync('deploy/compose.vps.yaml', 'utf8'));
  const gw = vps.services.porthole;
  assert.deepEqual(gw.ports, ['80:8080', '443:8443']);
  assert.ok(gw.volumes.includes('porthole-data:/data'));
  assert.ok(gw.volumes.some((v: string) => v.endsWith(':/config/porthole.yaml:ro')));
  assert.ok('porthole-data' in vps.volumes);
  const home = parse(fs.readFileSync('deploy/compose.home.yaml', 'utf8'));
  assert.deepEqual(home.networks.immich, { name: 'immich_default', external: true });
  assert.deepEqual(home.services.connector.profiles, ['tunnel']);
  assert.deepEqual(home.services.porthole.profiles, ['direct']);
  for (const service of [gw, home.services.connector, home.services.porthole]) {
    assert.equal(service.read_only, true);
    assert.deepEqual(service.cap_drop, ['ALL']);
    assert.ok(service.security_opt.includes('no-new-privileges:true'));
  }
  for (const service of [home.services.connector, home.services.porthole]) assert.ok(service.networks.includes('immich'));
  assert.deepEqual(home.services.connector.command.slice(0, 3), ['connect', '--origin', 'http://immich-server:2283']);
});

test('.env.example names every variable the compose files use', () => {
  const env = fs.readFileSync('deploy/.env.example', 'utf8');
  const documented = new Set([...env.matchAll(/^#?\s*([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
  for (const file of COMPOSE_FILES) {
    for (const [, name] of fs.readFileSync(file, 'utf8').matchAll(/\$\{([A-Z_][A-Z0-9_]*)/g)) assert.ok(documented.has(name), `${name} (${file}) in .env.example`);
  }
});

test('the sample configs for the containers load, use /data, and turn on health where the image checks it', () => {
  for (const file of ['deploy/porthole.vps.yaml', 'deploy/porthole.home.yaml']) {
    const config = loadConfigFile(file, { SMTP_PASSWORD: 'example' });
    assert.equal(config.dataDir, '/data');
    assert.equal(config.listen.httpPort, 8080);
    assert.equal(config.listen.httpsPort, 8443);
    assert.equal(config.publicPort, 443);
    assert.equal(config.health?.port, 8081);
    assert.equal(config.tls.acme?.directory, 'letsencrypt');
  }
  assert.match(dockerfile, /PORTHOLE_HEALTH_URL=http:\/\/127\.0\.0\.1:8081\/live/);
});

test("the image's healthcheck script: healthy against a live health listener, unhealthy when nothing answers", async () => {
  const origin = createDirectOrigin(new URL('http://127.0.0.1:9'));
  const health = await startHealth({ origin, address: '127.0.0.1', port: 0 });
  try {
    await run(process.execPath, ['bin/healthcheck.mjs'], { env: { ...process.env, PORTHOLE_HEALTH_URL: `http://127.0.0.1:${health.port}/live` } });
    await assert.rejects(run(process.execPath, ['bin/healthcheck.mjs'], { env: { ...process.env, PORTHOLE_HEALTH_URL: `http://127.0.0.1:${health.port}/ready` } }), { code: 1 });
  } finally {
    await health.close();
    await origin.close();
  }
  await assert.rejects(run(process.execPath, ['bin/healthcheck.mjs'], { env: { ...process.env, PORTHOLE_HEALTH_URL: `http://127.0.0.1:${health.port}/live` } }), { code: 1 });
});
