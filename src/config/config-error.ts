// The config file's error type and the "did you mean" helper, apart from the loader: the command line needs
// both for every command, and the loader brings the YAML parser and the zod schema with it (about 12 MiB of a
// process that only runs `porthole connect`).
import { closest, distance } from 'fastest-levenshtein';

export class ConfigError extends Error {
  /** Each problem as `[line:column: ]key.path: what is wrong`, without the file name. */
  readonly problems: string[];
  constructor(
    problems: string[],
    readonly source: string,
  ) {
    super(problems.map((p) => `${source}:${/^\d+:\d+: /.test(p) ? '' : ' '}${p}`).join('\n'));
    this.problems = problems;
    this.name = 'ConfigError';
  }
}

/** The closest known key to a mistyped one, if it is close enough to be what was meant. */
export function suggestKey(typed: string, known: string[]): string | null {
  if (known.length === 0) return null;
  const exactIgnoringCase = known.find((k) => k.toLowerCase() === typed.toLowerCase());
  if (exactIgnoringCase) return exactIgnoringCase;
  const best = closest(typed, known);
  return distance(typed, best) <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}
