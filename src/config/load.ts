// Reads porthole.yaml, validates it, resolves secrets and relative paths. Every problem becomes one line that
// names the place in the file (line and column), the key path and what was expected (with "did you mean" for
// a mistyped key), so the process can exit before it opens any port. Relative paths (dataDir, tls files,
// secret files) are taken from the config file's folder, never from wherever the command was started.
import fs from 'node:fs';
import path from 'node:path';
import YAML, { LineCounter, isMap, isNode, isPair, isScalar, isSeq, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, suggestKey } from './config-error.js';
import { configSchema, type Config, type SecretRef } from './schema.js';

export { ConfigError, suggestKey };

/** The validated config with every secret reference replaced by its value. */
export type ResolvedConfig = Omit<Config, 'mail' | 'store'> & {
  store: Exclude<Config['store'], { kind: 'redis' }> | (Omit<Extract<Config['store'], { kind: 'redis' }>, 'password'> & { password?: string });
  mail: Omit<Config['mail'], 'smtp'> & {
    smtp?: Omit<NonNullable<Config['mail']['smtp']>, 'password'> & { password?: string };
  };
  tls: Omit<Config['tls'], 'acme'> & {
    acme?: Omit<NonNullable<Config['tls']['acme']>, 'eab'> & { eab?: { kid: string; hmacKey: string } };
  };
};

type KeyPath = readonly PropertyKey[];

/** Where a key path sits in the file, for messages; null when the document did not come from a file. */
type Locate = (keyPath: KeyPath, unknownKey?: string) => { line: number; col: number } | null;

export interface ParseOptions {
  /** Relative paths in the config are resolved against this folder (the config file's). */
  baseDir?: string;
  /** 'throw' (default): a secret that cannot be read is a ConfigError. 'collect': it is reported in secretProblems. */
  secrets?: 'throw' | 'collect';
  locate?: Locate;
}

export interface ParsedConfig {
  config: ResolvedConfig;
  /** Secrets that could not be read (only with secrets: 'collect'); their values are left unset. */
  secretProblems: string[];
}

function formatPath(keyPath: KeyPath): string {
  if (keyPath.length === 0) return '(top level)';
  return keyPath.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i ? '.' : ''}${String(part)}`)).join('');
}

/** Peels zod's wrappers (defaults, optionals, pipes) off a schema to reach the object or array inside. */
function unwrap(schema: unknown): { _zod: { def: Record<string, unknown> } } | undefined {
  let current = schema as { _zod?: { def: Record<string, unknown> } } | undefined;
  for (let depth = 0; depth < 10 && current?._zod; depth++) {
    const def = current._zod.def;
    if (['default', 'prefault', 'optional', 'nullable', 'readonly', 'nonoptional', 'catch'].includes(def.type as string)) current = def.innerType as typeof current;
    else if (def.type === 'pipe') current = def.in as typeof current;
    else return current as { _zod: { def: Record<string, unknown> } };
  }
  return undefined;
}

/** The keys the schema knows at a path (for "did you mean"). */
function knownKeysAt(keyPath: KeyPath): string[] {
  let schema = unwrap(configSchema);
  for (const part of keyPath) {
    if (!schema) return [];
    const def = schema._zod.def;
    schema = unwrap(typeof part === 'number' ? def.element : (def.shape as Record<string, unknown> | undefined)?.[String(part)]);
  }
  return Object.keys((schema?._zod.def.shape as Record<string, unknown> | undefined) ?? {});
}

function describeIssue(issue: z.core.$ZodIssue, locate: Locate): string[] {
  const at = (keyPath: KeyPath, key?: string) => {
    const where = locate(keyPath, key);
    return where ? `${where.line}:${where.col}: ` : '';
  };
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(issue.path);
    return issue.keys.map((key) => {
      const suggestion = suggestKey(key, known);
      const hint = suggestion ? ` (did you mean "${suggestion}"?)` : known.length ? ` (known keys: ${known.join(', ')})` : '';
      return `${at(issue.path, key)}${where}: unknown key "${key}"${hint}`;
    });
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return [`${at(issue.path)}${where}: required (${issue.expected})`];
  return [`${at(issue.path)}${where}: ${issue.message}`];
}

function readSecret(ref: SecretRef, keyPath: string, env: NodeJS.ProcessEnv, baseDir: string | undefined): string {
  if (typeof ref === 'string') return ref;
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new Error(`${keyPath}: environment variable ${ref.env} is not set (set it, or use { file: ... })`);
    return value;
  }
  const file = baseDir ? path.resolve(baseDir, ref.file) : ref.file;
  let value: string;
  try {
    value = fs.readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (error) {
    throw new Error(`${keyPath}: cannot read secret file ${file} (${(error as NodeJS.ErrnoException).code})`, { cause: error });
  }
  if (!value) throw new Error(`${keyPath}: secret file ${file} is empty`);
  return value;
}

/** Validates an already-parsed document and reports unreadable secrets separately (for `porthole doctor`). */
export function parseConfigDetailed(document: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env, options: ParseOptions = {}): ParsedConfig {
  const locate: Locate = options.locate ?? (() => null);
  const result = configSchema.safeParse(document ?? {});
  if (!result.success)
    throw new ConfigError(
      result.error.issues.flatMap((issue) => describeIssue(issue, locate)),
      source,
    );
  const config = result.data;
  const base = options.baseDir;
  const resolvePath = (p: string) => (base ? path.resolve(base, p) : p);
  const secretProblems: string[] = [];
  const smtp = config.mail.smtp;
  /** Reads one secret; a problem is thrown, or collected (and the value left unset) for the doctor. */
  const secretAt = (ref: SecretRef, keyPath: string[]): string | undefined => {
    try {
      return readSecret(ref, keyPath.join('.'), env, base);
    } catch (error) {
      const where = locate(keyPath);
      const problem = `${where ? `${where.line}:${where.col}: ` : ''}${(error as Error).message}`;
      if (options.secrets !== 'collect') throw new ConfigError([problem], source);
      secretProblems.push(problem);
      return undefined;
    }
  };
  // With console mail the SMTP block is kept for later but its secret is not needed now.
  const password = smtp?.password !== undefined && config.mail.transport === 'smtp' ? secretAt(smtp.password, ['mail', 'smtp', 'password']) : undefined;
  const acme = config.tls.acme;
  const hmacKey = acme?.eab ? secretAt(acme.eab.hmacKey, ['tls', 'acme', 'eab', 'hmacKey']) : undefined;
  const store =
    config.store.kind === 'redis'
      ? { ...config.store, password: config.store.password === undefined ? undefined : secretAt(config.store.password, ['store', 'password']) }
      : config.store;
  return {
    config: {
      ...config,
      dataDir: resolvePath(config.dataDir),
      tls: {
        ...config.tls,
        certFile: config.tls.certFile === undefined ? undefined : resolvePath(config.tls.certFile),
        keyFile: config.tls.keyFile === undefined ? undefined : resolvePath(config.tls.keyFile),
        acme: acme && { ...acme, eab: acme.eab && { kid: acme.eab.kid, hmacKey: hmacKey ?? '' } },
      },
      mail: { ...config.mail, smtp: smtp && { ...smtp, password } },
      store,
    },
    secretProblems,
  };
}

/** Validates an already-parsed document; used by the loader and by tests and the demo. */
export function parseConfig(document: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env, options: ParseOptions = {}): ResolvedConfig {
  return parseConfigDetailed(document, source, env, options).config;
}

/** Line and column of the value at a key path, or of an unknown key itself; the nearest existing parent otherwise. */
function locatorFor(document: Document, lines: LineCounter): Locate {
  const position = (offset: number | undefined) => {
    if (offset === undefined) return null;
    const { line, col } = lines.linePos(offset);
    return { line, col };
  };
  return (keyPath, unknownKey) => {
    let node: unknown = document.contents;
    let lastOffset: number | undefined = isNode(node) ? node.range?.[0] : undefined;
    for (const part of keyPath) {
      if (isMap(node)) {
        const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === part);
        if (!pair) return position(lastOffset);
        lastOffset = isNode(pair.key) ? pair.key.range?.[0] : lastOffset;
        node = pair.value;
        if (isNode(node) && node.range) lastOffset = node.range[0];
      } else if (isSeq(node) && typeof part === 'number' && isNode(node.items[part])) {
        node = node.items[part];
        lastOffset = (node as { range?: [number] }).range?.[0] ?? lastOffset;
      } else {
        return position(lastOffset);
      }
    }
    if (unknownKey !== undefined && isMap(node)) {
      const pair = node.items.find((item) => isPair(item) && isScalar(item.key) && item.key.value === unknownKey);
      if (pair && isNode(pair.key)) return position(pair.key.range?.[0]);
    }
    return position(lastOffset ?? 0);
  };
}

function readDocument(file: string): { document: Document; locate: Locate } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? ' (check the path, or create one with `porthole init`)' : code === 'EACCES' ? ' (the user running porthole cannot read it)' : '';
    throw new ConfigError([`cannot read the file: ${code}${hint}`], file);
  }
  const lines = new LineCounter();
  const document = YAML.parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter: lines });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((e) => {
        const { line, col } = lines.linePos(e.pos[0]);
        // YAML's own messages sometimes end in a colon that introduced a code excerpt; the position says it.
        const message = e.message
          .split('\n')[0]!
          .replace(/ at line \d+, column \d+:?$/, '')
          .replace(/:$/, '');
        return `${line}:${col}: YAML: ${message}`;
      }),
      file,
    );
  }
  return { document, locate: locatorFor(document, lines) };
}

export function loadConfigFileDetailed(file: string, env: NodeJS.ProcessEnv = process.env, secrets: 'throw' | 'collect' = 'throw'): ParsedConfig {
  const { document, locate } = readDocument(file);
  const baseDir = path.dirname(path.resolve(file));
  return parseConfigDetailed(document.toJS({ maxAliasCount: 50 }), file, env, { baseDir, locate, secrets });
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  return loadConfigFileDetailed(file, env).config;
}
