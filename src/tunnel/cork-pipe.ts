// A pipe that batches what arrives in one turn of the event loop into one socket write. HTTP/2 over TLS
// delivers stream data in 16 KiB pieces (one TLS record each); writing each piece on its own costs a
// syscall apiece, and on loopback that was most of the tunnel's CPU. Corking until setImmediate turns a
// burst of pieces into one writev. Backpressure and end-of-stream behave as with pipe().
import type { Readable, Writable } from 'node:stream';

export function corkingPipe(from: Readable, to: Writable): void {
  let corked = false;
  const onData = (chunk: Buffer) => {
    if (to.destroyed) return;
    if (!corked) {
      corked = true;
      to.cork();
      setImmediate(() => {
        corked = false;
        to.uncork();
      });
    }
    if (!to.write(chunk)) from.pause();
  };
  from.on('data', onData);
  to.on('drain', () => from.resume());
  // end() flushes anything still corked before the FIN.
  from.once('end', () => {
    if (!to.destroyed) to.end();
  });
  to.once('close', () => from.off('data', onData));
}
