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
 * Caches aligned blocks of an inner reader. Reads spanning blocks are assembled; reads larger than the whole
 * cache go straight to the inner reader.
 */
export function blockCachedReader(inner: RandomAccessReader, options: BlockCacheOptions = {}): RandomAccessReader {
  const blockSize = options.blockSize ?? 64 * 1024;
  const maxBlocks = options.maxBlocks ?? 32;
  const blocks = new Map<number, Promise<Buffer>>();

  function block(index: number): Promise<Buffer> {
    const hit = blocks.get(index);
    if (hit) {
      blocks.delete(index);
      blocks.set(index, hit);
      return hit;
    }
    const loading = inner.read(index * blockSize, blockSize);
    blocks.set(index, loading);
    loading.catch(() => blocks.delete(index));
    while (blocks.size > maxBlocks) {
      const oldest = blocks.keys().next().value as number;
      blocks.delete(oldest);
    }
    return loading;
  }

  return {
    async read(offset, length) {
      if (length > blockSize * maxBlocks) return inner.read(offset, length);
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
