// Email addresses typed into the login form: bounded, normalised, and checked against the allowlist.
// The format check is deliberately strict (no quoted local parts, no comments, no spaces or line breaks):
// the address ends up in a mail header, and nothing that could smuggle a second header or recipient passes.
const MAX_ADDRESS = 254;
const ADDRESS = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/;

/** The normalised address, or null if it is not a plain address we are willing to mail. */
export function normalizeEmail(input: unknown): string | null {
  if (typeof input !== 'string' || input.length > MAX_ADDRESS + 16) return null;
  const email = input.trim().toLowerCase();
  if (email.length === 0 || email.length > MAX_ADDRESS) return null;
  const at = email.lastIndexOf('@');
  if (at < 1 || at > 64) return null;
  return ADDRESS.test(email) ? email : null;
}

/** Who may sign in, as the running gateway sees it now; `version` changes whenever the list is replaced. */
export interface Allowlist {
  allows(email: string): boolean;
  readonly version: number;
  /** Calls `listener` after every replacement of the list (a reload); returns the function that stops it. */
  subscribe(listener: () => void): () => void;
}

/** The gateway's allowlist: replaced in place when the config is reloaded (SIGHUP), so no restart is needed. */
export class LiveAllowlist implements Allowlist {
  private check: (email: string) => boolean;
  private readonly listeners = new Set<() => void>();
  version = 0;

  constructor(entries: readonly string[]) {
    this.check = createAllowlist(entries);
  }

  allows(email: string): boolean {
    return this.check(email);
  }

  replace(entries: readonly string[]): void {
    this.check = createAllowlist(entries);
    this.version++;
    for (const listener of [...this.listeners]) listener();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
}

/** Exact addresses and `*@domain` entries (already lower-cased by the config schema). */
export function createAllowlist(entries: readonly string[]): (email: string) => boolean {
  const exact = new Set<string>();
  const domains = new Set<string>();
  for (const entry of entries) {
    if (entry.startsWith('*@')) domains.add(entry.slice(2));
    else exact.add(entry);
  }
  return (email) => exact.has(email) || domains.has(email.slice(email.lastIndexOf('@') + 1));
}
