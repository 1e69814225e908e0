// Shared vocabulary of the metadata stripper: the random-access reader the walkers read through, the patch
// plan they produce, and the bounded source that turns every structural surprise into "not cleanable".

/** Reads bytes of the original at absolute offsets; may return fewer bytes than asked only at end of file. */
export interface RandomAccessReader {
  read(offset: number, length: number): Promise<Buffer>;
}

/** Overwrite [start, end) with `bytes` (same length) or with a repeated fill byte. */
export type Patch = { readonly start: number; readonly end: number; readonly bytes: Buffer } | { readonly start: number; readonly end: number; readonly fill: number };

export type MediaFormat = 'jpeg' | 'png' | 'webp' | 'heif' | 'avif' | 'mp4' | 'mov';

export type StripPlan = { readonly ok: true; readonly format: MediaFormat; readonly patches: readonly Patch[] } | { readonly ok: false; readonly reason: string };

/** Thrown by walkers for anything they cannot clean with certainty; becomes `{ ok: false, reason }`. */
export class NotCleanable extends Error {
  override readonly name = 'NotCleanable';
}

/** Thrown when the underlying reader fails (origin unreachable), so callers can tell it from bad files. */
export class ReadFailed extends Error {
  override readonly name = 'ReadFailed';
}

/** Largest single read a walker may ask for: structural tables above this are refused, never allocated. */
export const MAX_READ = 8 * 1024 * 1024;
/** Total reads per plan: every walk terminates even on adversarial input. */
export const MAX_READS = 1_000_000;

/**
 * The reader as walkers see it: knows the file size, returns exactly the bytes asked for or throws
 * NotCleanable, refuses over-large reads and counts reads against a budget.
 */
export class Source {
  constructor(
    private readonly reader: RandomAccessReader,
    readonly size: number,
    private readonly base = 0,
    private readonly budget = { reads: 0 },
  ) {}

  private window: { start: number; data: Buffer } | undefined;

  /**
   * Like bytes(), but reads up to `ahead` bytes at once and serves later small reads from that window: walkers
   * that must visit every header of a file (PNG chunks) then cost a few large reads instead of many small ones.
   */
  async bytesAhead(offset: number, length: number, ahead: number): Promise<Buffer> {
    const w = this.window;
    if (w && offset >= w.start && offset + length <= w.start + w.data.length) {
      return w.data.subarray(offset - w.start, offset - w.start + length);
    }
    if (offset + length > this.size) throw new NotCleanable('truncated file');
    const data = await this.bytes(offset, Math.max(length, Math.min(ahead, this.size - offset)));
    this.window = { start: offset, data };
    return data.subarray(0, length);
  }

  /** A view of [start, start+size) with its own offsets, sharing this source's read budget. */
  view(start: number, size: number): Source {
    if (start < 0 || size < 0 || start + size > this.size) throw new NotCleanable('region outside the file');
    return new Source(this.reader, size, this.base + start, this.budget);
  }

  async bytes(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
      throw new NotCleanable('offset out of range');
    }
    if (offset + length > this.size) throw new NotCleanable('truncated file');
    if (length > MAX_READ) throw new NotCleanable('structure too large');
    if (++this.budget.reads > MAX_READS) throw new NotCleanable('too many reads');
    if (length === 0) return Buffer.alloc(0);
    let buf: Buffer;
    try {
      buf = await this.reader.read(this.base + offset, length);
    } catch (err) {
      throw new ReadFailed(err instanceof Error ? err.message : String(err));
    }
    if (!Buffer.isBuffer(buf) || buf.length < length) throw new NotCleanable('truncated file');
    return buf.length === length ? buf : buf.subarray(0, length);
  }
}

/** Adds a fill patch, ignoring empty ranges. */
export function zero(patches: Patch[], start: number, end: number): void {
  if (end > start) patches.push({ start, end, fill: 0 });
}

/** Adds a patch writing `bytes` at `start`. */
export function write(patches: Patch[], start: number, bytes: Buffer): void {
  if (bytes.length > 0) patches.push({ start, end: start + bytes.length, bytes });
}
