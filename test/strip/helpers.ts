// Shared helpers for the metadata-stripping tests: the fixture catalogue, planning + applying in memory, and
// the external readers/decoders (exiftool, ImageMagick, ffmpeg) used as independent judges.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyPatchesToBuffer, bufferReader, findMetadataRegions, type MediaFormat, type Patch } from '../../src/share/strip/index.js';

/** Debian's ImageMagick; overridable where it lives elsewhere. */
const CONVERT = process.env.IMAGEMAGICK_CONVERT ?? '/usr/bin/convert';

export const FIXTURE_DIR = fileURLToPath(new URL('../../src/demo/media/', import.meta.url));

export interface Fixture {
  file: string;
  format: MediaFormat;
  kind: 'image' | 'video';
  /** Readable by the exifreader package (it does not read QuickTime). */
  exifreader: boolean;
}

export const FIXTURES: Fixture[] = [
  { file: 'gps.jpg', format: 'jpeg', kind: 'image', exifreader: true },
  { file: 'progressive.jpg', format: 'jpeg', kind: 'image', exifreader: true },
  { file: 'gps.png', format: 'png', kind: 'image', exifreader: true },
  { file: 'gps.webp', format: 'webp', kind: 'image', exifreader: true },
  { file: 'gps-lossless.webp', format: 'webp', kind: 'image', exifreader: true },
  { file: 'gps.heic', format: 'heif', kind: 'image', exifreader: true },
  { file: 'gps.avif', format: 'avif', kind: 'image', exifreader: true },
  { file: 'gps.mp4', format: 'mp4', kind: 'video', exifreader: false },
  { file: 'gps.mov', format: 'mov', kind: 'video', exifreader: false },
  { file: 'gps-track.mp4', format: 'mp4', kind: 'video', exifreader: false },
];

export function readFixture(file: string): Promise<Buffer> {
  return readFile(join(FIXTURE_DIR, file));
}

export async function planFor(input: Buffer): Promise<{ format: MediaFormat; patches: readonly Patch[] }> {
  const plan = await findMetadataRegions(bufferReader(input), input.length);
  if (!plan.ok) throw new Error(`expected a cleanable file, got: ${plan.reason}`);
  return plan;
}

export async function strip(input: Buffer): Promise<Buffer> {
  const { patches } = await planFor(input);
  return Buffer.from(applyPatchesToBuffer(patches, input));
}

function run(cmd: string, args: string[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { encoding: 'buffer', maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} failed: ${err.message} ${stderr.toString().slice(0, 500)}`));
      else resolve(stdout);
    });
  });
}

/** Runs `fn` with `data` written to a temporary file carrying the right extension. */
export async function withTempFile<T>(data: Buffer, name: string, fn: (path: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'strip-test-'));
  try {
    const path = join(dir, name);
    await writeFile(path, data);
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** All tags exiftool finds (numeric values, every group, embedded/timed data too), as "Group:Tag" → value. */
export async function exiftoolTags(data: Buffer, name: string): Promise<Record<string, unknown>> {
  return withTempFile(data, name, async (path) => {
    const out = await run('exiftool', ['-j', '-a', '-G1', '-n', '-ee', '-u', path]);
    const parsed = JSON.parse(out.toString('utf8')) as Record<string, unknown>[];
    return parsed[0] ?? {};
  });
}

/** Decoded pixels (images) or per-frame/per-packet hashes of decoded audio and video (movies). */
export async function decodedDigest(data: Buffer, fixture: Fixture): Promise<string> {
  return withTempFile(data, fixture.file, async (path) => {
    const out =
      fixture.kind === 'image'
        ? await run(CONVERT, [path, '-depth', '8', 'rgba:-'])
        : await run('ffmpeg', ['-v', 'error', '-i', path, '-map', '0:v', '-map', '0:a?', '-f', 'framemd5', '-']);
    if (out.length === 0) throw new Error('decoder produced nothing');
    return createHash('sha256').update(out).digest('hex');
  });
}

/** What a location/camera leak looks like in a reader's output. */
export const SENSITIVE_KEY =
  /:(GPS\w*|\w*Location\w*|Make|Model|CameraModelName|\w*Serial\w*|Creator|Author|Artist|By-line|Keywords|City|Lens\w*|DateTimeOriginal|Comment|UserComment|Description|ImageDescription|Title|Text)$/i;
export const SENSITIVE_VALUE = /Fixture|secret|SN-4242|48\.85|2\.294|2024:05:06|2024-05-06/i;

/** Keys of a flat tag map that leak something (empty values leak nothing), ignoring exiftool's file bookkeeping. */
export function leaks(tags: Record<string, unknown>): string[] {
  return Object.entries(tags)
    .filter(([key]) => !/^(System|File|ExifTool):/.test(key) && key !== 'SourceFile')
    .filter(([, value]) => value !== '' && value !== null && value !== undefined)
    .filter(([key, value]) => SENSITIVE_KEY.test(key) || SENSITIVE_VALUE.test(JSON.stringify(value)))
    .map(([key, value]) => `${key}=${JSON.stringify(value).slice(0, 80)}`);
}

export { prng } from '../prng.js';
