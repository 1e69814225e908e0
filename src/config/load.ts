// Reads porthole.yaml, validates it, resolves secrets. Every problem becomes one ConfigError line that names
// the key path and what was expected, so the process can exit before it opens any port.
import fs from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config, type SecretRef } from './schema.js';

export class ConfigError extends Error {
  constructor(readonly problems: string[], readonly source: string) {
    super(`${source}: invalid configuration\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The validated config with every secret reference replaced by its value. */
export type ResolvedConfig = Omit<Config, 'mail' | 'tls'> & {
  mail: Omit<Config['mail'], 'smtp'> & {
    smtp?: Omit<NonNullable<Config['mail']['smtp']>, 'password'> & { password?: string };
  };
  tls: Omit<Config['tls'], 'acme'> & {
    acme?: Omit<NonNullable<Config['tls']['acme']>, 'eab'> & { eab?: { kid: string; hmacKey: string } };
  };
};

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i ? '.' : ''}${String(part)}`)).join('');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && issue.input === undefined) return `${where}: required (${issue.expected})`;
  return `${where}: ${issue.message}`;
}

function readSecret(ref: SecretRef, path: string, env: NodeJS.ProcessEnv): string {
  if (typeof ref === 'string') return ref;
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new ConfigError([`${path}: environment variable ${ref.env} is not set`], 'environment');
    return value;
  }
  try {
    const value = fs.readFileSync(ref.file, 'utf8').replace(/\r?\n$/, '');
    if (!value) throw new ConfigError([`${path}: secret file ${ref.file} is empty`], 'secret file');
    return value;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError([`${path}: cannot read secret file ${ref.file} (${(error as NodeJS.ErrnoException).code})`], 'secret file');
  }
}

/** Validates an already-parsed document; used by the loader and by tests and the demo. */
export function parseConfig(document: unknown, source = 'config', env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const result = configSchema.safeParse(document ?? {});
  if (!result.success) throw new ConfigError(result.error.issues.map(describeIssue), source);
  const config = result.data;
  const smtp = config.mail.smtp;
  const acme = config.tls.acme;
  return {
    ...config,
    tls: {
      ...config.tls,
      acme: acme && { ...acme, eab: acme.eab && { kid: acme.eab.kid, hmacKey: readSecret(acme.eab.hmacKey, 'tls.acme.eab.hmacKey', env) } },
    },
    mail: {
      ...config.mail,
      smtp: smtp && {
        ...smtp,
        password: smtp.password === undefined ? undefined : readSecret(smtp.password, 'mail.smtp.password', env),
      },
    },
  };
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`cannot read the file (${(error as NodeJS.ErrnoException).code})`], file);
  }
  const document = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(document.errors.map((e) => `YAML: ${e.message.split('\n')[0]}`), file);
  }
  return parseConfig(document.toJS({ maxAliasCount: 50 }), file, env);
}
