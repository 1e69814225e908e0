// How the connector reads what Immich sends, without a new Buffer per socket read. By default every read
// of a TCP socket lands in a fresh 64 KiB Buffer; once the HTTP/2 stream has sent it the Buffer is garbage, but
// V8 frees ArrayBuffer memory only at its next collection, and a connector's JS heap is so small that this
// comes only every 20-30 MiB of data: during a download that garbage was a third of the connector's memory.
// Here every origin socket reads into one shared scratch buffer (reads and their callbacks run one at a time on
// this thread, so they cannot overlap), each read is copied into a chunk from a small free list, and a chunk
// goes back to the list only once the stream reports it sent. A chunk whose write failed is left to the GC:
// it may still be referenced, and reusing it could put one viewer's bytes into another viewer's stream.
import net from 'node:net';
import type { Writable } from 'node:stream';

const CHUNK = 64 * 1024;
/** Chunks kept for reuse (1 MiB); a burst beyond that allocates, and the extra chunks are then left to the GC. */
const MAX_FREE = 16;

const scratch = Buffer.allocUnsafe(CHUNK);
const free: Buffer[] = [];

function takeChunk(): Buffer {
  return free.pop() ?? Buffer.allocUnsafe(CHUNK);
}

function giveBack(chunk: Buffer): void {
  if (free.length < MAX_FREE) free.push(chunk);
}

/**
 * A TCP connection whose incoming bytes are written to `to` (with the backpressure of pipe()) and whose end
 * ends `to`. Nothing is emitted as 'data'; 'end', 'close' and 'error' behave as on any socket.
 */
export function connectReadingInto(options: net.TcpNetConnectOpts, to: Writable): net.Socket {
  const socket: net.Socket = net.connect({
    ...options,
    onread: {
      buffer: () => scratch,
      callback: (nread: number) => {
        if (to.destroyed || to.writableEnded) return false;
        const chunk = takeChunk();
        scratch.copy(chunk, 0, 0, nread);
        // false pauses reading, as pipe() does, until the stream drains.
        return to.write(chunk.subarray(0, nread), (err) => {
          if (!err) giveBack(chunk);
        });
      },
    },
  });
  to.on('drain', () => socket.resume());
  socket.once('end', () => {
    if (!to.destroyed && !to.writableEnded) to.end();
  });
  return socket;
}
