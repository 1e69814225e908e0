// Log lines for refusals that anyone on the internet can cause at will (connection caps, unauthenticated
// tunnel sockets, deadlines): one line when refusals start, then at most one summary per interval with counts
// by reason and the busiest addresses. A flood costs the log a few lines a minute, not one line per socket.

export interface WarnLogger {
  warn(obj: object, msg: string): void;
}

/** Distinct addresses remembered per interval; the rest are only counted. */
const MAX_ADDRESSES = 1024;
const TOP_ADDRESSES = 5;

export class RefusalSummary {
  private windowStart = 0;
  private timer: NodeJS.Timeout | undefined;
  private total = 0;
  private readonly reasons = new Map<string, number>();
  private readonly addresses = new Map<string, number>();
  private otherAddresses = 0;
  private readonly seen = new Set<string>();

  constructor(
    private readonly logger: WarnLogger,
    private readonly message: string,
    private readonly intervalMs = 60_000,
  ) {}

  /**
   * Counts one refusal. Returns true the first time this reason is seen for this address in the current
   * interval, so callers can keep other per-event side effects (audit rows) to one per address and interval.
   */
  note(reason: string, address: string): boolean {
    const key = `${reason}\u0000${address}`;
    const first = !this.seen.has(key);
    if (first && this.seen.size < MAX_ADDRESSES * 4) this.seen.add(key);
    if (!this.timer) {
      // Quiet until now: say so at once, then summarise what follows.
      this.logger.warn({ reason, address }, this.message);
      this.windowStart = Date.now();
      this.timer = setTimeout(() => this.flush(), this.intervalMs);
      this.timer.unref();
      return first;
    }
    this.total++;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
    const known = this.addresses.get(address);
    if (known !== undefined) this.addresses.set(address, known + 1);
    else if (this.addresses.size < MAX_ADDRESSES) this.addresses.set(address, 1);
    else this.otherAddresses++;
    return first;
  }

  /** Writes the summary of the interval that just ended (if anything happened) and starts the next one. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.seen.clear();
    if (this.total === 0) return;
    const top = [...this.addresses]
      .sort((a, b) => b[1] - a[1])
      .slice(0, TOP_ADDRESSES)
      .map(([address, count]) => ({ address, count }));
    this.logger.warn(
      {
        refused: this.total,
        seconds: Math.round((Date.now() - this.windowStart) / 1000),
        reasons: Object.fromEntries(this.reasons),
        addresses: this.addresses.size,
        ...(this.otherAddresses > 0 ? { fromUnlistedAddresses: this.otherAddresses } : {}),
        top,
      },
      `${this.message} (summary)`,
    );
    this.total = 0;
    this.reasons.clear();
    this.addresses.clear();
    this.otherAddresses = 0;
    // Still busy: keep summarising instead of logging the next refusal on its own.
    this.windowStart = Date.now();
    this.timer = setTimeout(() => this.flush(), this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) this.flush();
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
