// Human-friendly durations in config ("10m", "24h", "600s", "30d") turned into milliseconds.
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/;

/** Parses "10m" style durations; returns null for anything else so the schema can name the key. */
export function parseDuration(text: string): number | null {
  const match = DURATION.exec(text.trim());
  if (!match) return null;
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** Parses "100MB" style sizes (powers of 1024 for KiB/MiB/GiB, 1000 for KB/MB/GB). */
export function parseSize(text: string): number | null {
  const match = /^(\d{1,15})\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/.exec(text.trim());
  if (!match) return null;
  const factor: Record<string, number> = {
    B: 1,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
    KiB: 2 ** 10,
    MiB: 2 ** 20,
    GiB: 2 ** 30,
    TiB: 2 ** 40,
  };
  return Number(match[1]) * factor[match[2] ?? 'B']!;
}
