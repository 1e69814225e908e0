// Who may open the admin page: the addresses in gate.admins, replaced in place when the config is reloaded
// (SIGHUP), like the allowlist. Being an admin never lets anyone in by itself: the page also needs a session,
// and sessions need gate.allow.
export interface AdminList {
  isAdmin(email: string): boolean;
}

export class LiveAdmins implements AdminList {
  private admins: ReadonlySet<string>;

  constructor(entries: readonly string[]) {
    this.admins = new Set(entries);
  }

  isAdmin(email: string): boolean {
    return this.admins.has(email.toLowerCase());
  }

  replace(entries: readonly string[]): void {
    this.admins = new Set(entries);
  }
}
