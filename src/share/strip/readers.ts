// RandomAccessReader implementations: over a buffer and over a local file (tests, tools), and a block cache the
// gateway wraps around its Range-request reader so the walkers' many small reads cost few origin requests.
import { open, type FileHandle } from 'node:fs/promises';
import type { RandomAccessReader } from './types.js';

export function bufferReader(buf: Buffer): RandomAccessReader {
  return {
    async read(offset, length) {
      return buf.subarray(offset, Math.min(buf.length, offset + length));
    },
  };
}

export interface FileReader extends RandomAccessReader {
  readonly size: number;
  close(): Promise<void>;
}

export async function openFileReader(path: string): Promise<FileReader> {
  const fh: FileHandle = await open(path, 'r');
  const { size } = await fh.stat();
  return {
    size,
    async read(offset, length) {
      const want = Math.max(0, Math.min(length, size - offset));
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    },
    close: () => fh.close(),
  };
}

export interface BlockCacheOptions {
  /** Bytes per cached block (default 64 KiB). */
  blockSize?: number;
  /** Blocks kept, least recently used evicted (default 32, so 2 MiB). */
  maxBlocks?: number;
}

/**
 * Caches aligned blocks of an inner reader. A read that misses several neighbouring blocks fetches them with a
 * single inner read (one origin request), then serves them from the cache; reads spanning more blocks than
 * the cache holds go straight to the inner reader.
 */
export function blockCachedReader(inner: RandomAccessReader, options: BlockCacheOptions = {}): RandomAccessReader {
  const blockSize = options.blockSize ?? 64 * 1024;
  const maxBlocks = options.maxBlocks ?? 32;
  const blocks = new Map<number, Promise<Buffer>>();

  function remember(index: number, loading: Promise<Buffer>): void {
    blocks.set(index, loading);
    // A failed load is forgotten so the next read retries; the handler also keeps the rejection handled.
    loading.catch(() => {
      if (blocks.get(index) === loading) blocks.delete(index);
    });
    while (blocks.size > maxBlocks) blocks.delete(blocks.keys().next().value as number);
  }

  /** Starts one inner read for blocks first..last (all missing). */
  function loadRun(first: number, last: number): void {
    const run = inner.read(first * blockSize, (last - first + 1) * blockSize);
    for (let i = first; i <= last; i++) {
      const from = (i - first) * blockSize;
      remember(
        i,
        run.then((buf) => buf.subarray(Math.min(from, buf.length), Math.min(from + blockSize, buf.length))),
      );
    }
  }

  function block(index: number): Promise<Buffer> {
    const hit = blocks.get(index);
    if (hit) {
      blocks.delete(index);
      blocks.set(index, hit);
      return hit;
    }
    loadRun(index, index);
    return blocks.get(index)!;
  }

  return {
    async read(offset, length) {
      if (length <= 0) return Buffer.alloc(0);
      const first = Math.floor(offset / blockSize);
      const last = Math.floor((offset + length - 1) / blockSize);
      if (last - first + 1 > maxBlocks) return inner.read(offset, length);
      for (let i = first; i <= last;) {
        if (blocks.has(i)) {
          i++;
          continue;
        }
        let j = i;
        while (j < last && !blocks.has(j + 1)) j++;
        loadRun(i, j);
        i = j + 1;
      }
      const parts: Buffer[] = [];
      let pos = offset;
      const end = offset + length;
      while (pos < end) {
        const index = Math.floor(pos / blockSize);
        const data = await block(index);
        const from = pos - index * blockSize;
        if (from >= data.length) break;
        const piece = data.subarray(from, Math.min(data.length, from + (end - pos)));
        parts.push(piece);
        pos += piece.length;
        if (data.length < blockSize) break;
      }
      return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    },
  };
}
