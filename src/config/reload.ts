// What a config reload (SIGHUP) may change in a running gateway. Only gate.allow and gate.admins are applied live:
// removing someone must take effect at once, without dropping everyone's connections. Every other changed key is
// named so the operator knows a restart is needed; values are never reported (some are secrets).
import { isDeepStrictEqual } from 'node:util';
import type { ResolvedConfig } from './load.js';

export const LIVE_KEYS: readonly string[] = ['gate.allow', 'gate.admins'];

/** Dotted paths of the leaves that differ between two configs (arrays compare as a whole). */
export function changedKeys(before: unknown, after: unknown, prefix = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(before) || !isObject(after)) return isDeepStrictEqual(before, after) ? [] : [prefix];
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].sort().flatMap((name) => changedKeys(before[name], after[name], prefix ? `${prefix}.${name}` : name));
}

export interface ReloadPlan {
  /** Keys applied to the running gateway. */
  readonly applied: string[];
  /** Keys that changed in the file but take effect only after a restart. */
  readonly needRestart: string[];
}

export function planReload(running: ResolvedConfig, next: ResolvedConfig): ReloadPlan {
  const changed = changedKeys(running, next);
  return { applied: changed.filter((k) => LIVE_KEYS.includes(k)), needRestart: changed.filter((k) => !LIVE_KEYS.includes(k)) };
}
