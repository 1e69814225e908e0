// The origin of the HTTP/2 benchmarks (first-screen.ts, h2-profile.ts): the sample Immich with a big album shared
// by a link, run in a child process of the benchmark (its `--role origin`) so its work never counts as the proxy's.
export interface AlbumOriginReady {
  port: number;
  key: string;
  assetId: string;
}

/** Runs in the child: starts the sample, tells the parent where it is, and stops when the parent goes. */
export async function runAlbumOrigin(albumSize: number): Promise<void> {
  const { startSampleImmich } = await import('../../src/demo/sample-immich/server.js');
  const origin = await startSampleImmich(0, '127.0.0.1', { bigAlbum: albumSize });
  const album = origin.library.bigAlbum!;
  const link = origin.library.createLink({ albumId: album.id, allowUpload: false });
  // The recorder would grow without bound under load.
  setInterval(() => (origin.received.length = 0), 1000).unref();
  process.send!({ port: origin.port, key: link.key, assetId: album.assetIds[0]! } satisfies AlbumOriginReady);
  process.on('disconnect', () => void origin.close().finally(() => process.exit(0)));
}
