// Hostile inputs above the ZIP level, with the outcome the oven must give each: tapes whose
// timing, frames or soundtrack are wrong (hostile-zips.ts has the unsafe ZIPs themselves), a few
// more ZIPs aimed at the disk outside the job, POST /bake bodies that must be refused, and URLs
// that must never be fetched. Everything is generated here; nothing is read from disk.

import { deflateSync } from 'node:zlib';
import type { ErrorCode } from '../../service/errors.ts';
import { pngChunk, tinyPng } from './hostile-zips.ts';
import { toneWav } from './sample-tape.ts';
import { buildZip, type ZipEntrySpec } from './zip.ts';

export interface HostileTape {
  name: string;
  zip: Buffer;
  /** The job's error code, or 'SUCCESS' for inputs the oven must bake anyway. */
  code: ErrorCode | 'SUCCESS';
  /** For SUCCESS: the video's length in ms (the tape's, whatever the soundtrack's). */
  durationMs?: number;
}

const WIDTH = 16;
const HEIGHT = 12;
const DURATIONS = [16.67, 100, 33.3, 50];
const TAPE_MS = DURATIONS.reduce((a, b) => a + b, 0);

const frameName = (i: number) => `frame-${String(i).padStart(5, '0')}.png`;
const frame = (i: number): ZipEntrySpec => ({ name: frameName(i), data: tinyPng(WIDTH, HEIGHT, [(i * 60) % 256, 90, 200]) });
const frames = (count: number) => Array.from({ length: count }, (_, i) => frame(i));
const timing = (durations: unknown[]) => durations.map((duration, i) => ({ frame: i, filename: frameName(i), duration, timestamp: 1764000000000 + i }));
const timingEntry = (value: unknown): ZipEntrySpec => ({ name: 'timing.json', data: typeof value === 'string' ? value : JSON.stringify(value) });

/** An 8-bit RGB PNG whose IHDR says width×height, with `idat` as its image data, whatever that is. */
export function pngWithData(width: number, height: number, idat: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** The deflated rows of a width×height RGB image, each starting with its filter type byte. */
function rgbRows(width: number, height: number, filterType = 0): Buffer {
  const row = Buffer.concat([Buffer.from([filterType]), Buffer.alloc(width * 3, 0x5a)]);
  return deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
}

/**
 * A width×height RGB PNG whose data inflates to exactly the size its header promises, but whose
 * rows name filter type 5, which does not exist: the tape reader and ffmpeg accept it, libvips
 * (sharp, the thumbnail) refuses it. For testing a thumbnail failure on an otherwise good bake.
 */
export function pngWithBadFilters(width: number, height: number): Buffer {
  return pngWithData(width, height, rgbRows(width, height, 5));
}

/** Signature, IHDR and IEND only: a 100-byte file claiming width×height pixels. */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const full = pngWithData(width, height, Buffer.alloc(0));
  const idatStart = 8 + 25;
  return Buffer.concat([full.subarray(0, idatStart), pngChunk('IEND', Buffer.alloc(0))]);
}

/** A WAV that starts right (RIFF…WAVE) and then holds nothing a decoder can use. */
function corruptWav(): Buffer {
  const head = Buffer.from('RIFF\xff\xff\x00\x00WAVE', 'latin1');
  return Buffer.concat([head, Buffer.alloc(8000, 0x5a)]);
}

function tape(...entries: ZipEntrySpec[]): Buffer {
  return buildZip(entries);
}

export function hostileTapes(): HostileTape[] {
  const four = frames(4);
  return [
    // timing.json
    { name: 'no timing.json (30 fps assumed)', code: 'SUCCESS', durationMs: 4 * (1000 / 30), zip: tape(...four) },
    { name: 'no frames at all', code: 'TAPE_NO_FRAMES', zip: tape(timingEntry(timing(DURATIONS)), { name: 'metadata.json', data: '{}' }) },
    { name: 'timing.json not JSON', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry('[{"duration": 16.67},')) },
    { name: 'timing.json an object, not a list', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry({ duration: 16 })) },
    { name: 'timing.json nested 100000 deep', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry('['.repeat(100_000) + ']'.repeat(100_000))) },
    { name: 'timing.json names a frame not in the ZIP', code: 'TAPE_MISSING_FRAME', zip: tape(...frames(3), timingEntry(timing(DURATIONS))) },
    { name: 'a frame timing.json does not mention', code: 'TAPE_EXTRA_FRAME', zip: tape(...frames(5), timingEntry(timing(DURATIONS))) },
    { name: 'NaN duration (bare NaN is not JSON)', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry(JSON.stringify(timing(DURATIONS)).replace('16.67', 'NaN'))) },
    { name: 'NaN duration as a string', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry(timing([16, 'NaN', 16, 16]))) },
    { name: 'negative duration', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry(timing([16, -100, 16, 16]))) },
    { name: 'zero duration', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry(timing([16, 0, 16, 16]))) },
    { name: 'durations that round to nothing (1e-7 ms)', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry(timing([1e-7, 1e-7, 1e-7, 1e-7]))) },
    { name: 'huge duration 1e308', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry(timing([16, 1e308, 16, 16]))) },
    { name: 'duration 1e400 (Infinity once parsed)', code: 'TAPE_BAD_TIMING', zip: tape(...four, timingEntry(JSON.stringify(timing(DURATIONS)).replace('16.67', '1e400'))) },
    { name: 'tape far over the length limit (500 s)', code: 'TAPE_TOO_LONG', zip: tape(...frames(5), timingEntry(timing([100_000, 100_000, 100_000, 100_000, 100_000]))) },
    { name: 'metadata.json not JSON (advice only, ignored)', code: 'SUCCESS', durationMs: TAPE_MS, zip: tape(...four, timingEntry(timing(DURATIONS)), { name: 'metadata.json', data: '{"resolution": ' }) },
    // frames
    { name: 'a frame that is a text file', code: 'TAPE_BAD_FRAME', zip: tape(...frames(3), { name: frameName(3), data: 'GIF89a not a png' }, timingEntry(timing(DURATIONS))) },
    { name: 'a frame of zero bytes', code: 'TAPE_BAD_FRAME', zip: tape(...frames(3), { name: frameName(3), data: '' }, timingEntry(timing(DURATIONS))) },
    {
      name: 'PNG header says 16×12, data is garbage',
      code: 'TAPE_BAD_FRAME',
      zip: tape(...frames(3), { name: frameName(3), data: pngWithData(WIDTH, HEIGHT, Buffer.from('garbage, not deflate data at all')) }, timingEntry(timing(DURATIONS))),
    },
    {
      name: 'PNG header says 16×12, data is 64×48',
      code: 'TAPE_BAD_FRAME',
      zip: tape(...frames(3), { name: frameName(3), data: pngWithData(WIDTH, HEIGHT, rgbRows(64, 48)) }, timingEntry(timing(DURATIONS))),
    },
    {
      name: 'PNG header says 16×12, data is 8×6',
      code: 'TAPE_BAD_FRAME',
      zip: tape(...frames(3), { name: frameName(3), data: pngWithData(WIDTH, HEIGHT, rgbRows(8, 6)) }, timingEntry(timing(DURATIONS))),
    },
    {
      name: '60000×60000 frame (header only, never decoded)',
      code: 'TAPE_FRAME_TOO_LARGE',
      zip: tape({ name: frameName(0), data: pngHeaderOnly(60_000, 60_000) }, timingEntry(timing([16.67]))),
    },
    {
      name: 'frames of different sizes',
      code: 'TAPE_FRAME_SIZE_MISMATCH',
      zip: tape(...frames(3), { name: frameName(3), data: tinyPng(HEIGHT, WIDTH) }, timingEntry(timing(DURATIONS))),
    },
    // soundtrack
    { name: 'soundtrack that is not a WAV', code: 'TAPE_BAD_SOUNDTRACK', zip: tape(...four, timingEntry(timing(DURATIONS)), { name: 'soundtrack.wav', data: 'ID3\x04 an mp3, not a wav' }) },
    { name: 'soundtrack RIFF/WAVE header then garbage', code: 'TAPE_BAD_SOUNDTRACK', zip: tape(...four, timingEntry(timing(DURATIONS)), { name: 'soundtrack.wav', data: corruptWav() }) },
    {
      name: 'soundtrack 3 minutes longer than the video',
      code: 'SUCCESS',
      durationMs: TAPE_MS,
      zip: tape(...four, timingEntry(timing(DURATIONS)), { name: 'soundtrack.wav', data: toneWav(180, 8000), method: 'store' }),
    },
  ];
}

/** ZIPs beyond hostileZips(): climbs far out of the job folder, a bomb by total size, a real 20001 entries. */
export function moreHostileZips(slipTarget: string): { name: string; zip: Buffer; code: ErrorCode }[] {
  const honest = frame(0);
  const climb = '../'.repeat(24) + slipTarget.replace(/^\//, '');
  // Each entry stays under the per-entry cap (256 MiB) and escapes the ratio check by its name; together they pass 1 GiB.
  const bigSounds = Array.from({ length: 5 }, (_, i) => ({ name: `take${i}/soundtrack.wav`, data: 'x', declaredUncompressedSize: 250 * 1024 * 1024 }));
  return [
    { name: `zip slip to ${slipTarget}`, code: 'ZIP_UNSAFE_PATH', zip: buildZip([honest, { name: climb, data: 'evil' }]) },
    { name: `absolute path ${slipTarget}`, code: 'ZIP_UNSAFE_PATH', zip: buildZip([honest, { name: slipTarget, data: 'evil' }]) },
    { name: 'zip slip hidden behind a folder entry', code: 'ZIP_UNSAFE_PATH', zip: buildZip([honest, { name: 'tape/', isDirectory: true }, { name: 'tape/../../evil.txt', data: 'evil' }]) },
    { name: 'bomb by total size (5 × 250 MiB declared)', code: 'ZIP_BOMB', zip: buildZip([honest, ...bigSounds]) },
    {
      name: 'too many entries (20001 real ones)',
      code: 'ZIP_TOO_MANY_ENTRIES',
      zip: buildZip([honest, ...Array.from({ length: 20_000 }, (_, i) => ({ name: `pad/${i}.txt`, method: 'store' as const }))]),
    },
  ];
}

export interface HostileRequest {
  name: string;
  body: string | ReadableStream<Uint8Array>;
  headers: Record<string, string>;
  status: number;
  code: ErrorCode;
}

/**
 * POST /bake bodies the oven must refuse. `job(slug)` gives a valid body (with the right
 * callbackSecret) whose URLs the oven would accept.
 */
export function hostileRequests(job: (slug: string) => Record<string, unknown>, secret: string): HostileRequest[] {
  const json = { 'content-type': 'application/json' };
  const as = (name: string, body: Record<string, unknown> | string, status: number, code: ErrorCode, headers: Record<string, string> = json): HostileRequest => ({
    name,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers,
    status,
    code,
  });
  const { callbackSecret: _secret, ...unsigned } = job('req-unsigned');
  const chunked = new ReadableStream<Uint8Array>({
    start(controller) {
      // No Content-Length: the cap must hold on the bytes as they come.
      for (let i = 0; i < 80; i++) controller.enqueue(Buffer.alloc(1024, 0x20));
      controller.close();
    },
  });
  return [
    as('body is not JSON', '{"slug": "x", ', 400, 'BAD_JSON'),
    as('body is JSON sent as text/plain', job('req-plain'), 415, 'UNSUPPORTED_MEDIA_TYPE', { 'content-type': 'text/plain' }),
    as('body is a JSON string', '"bake me"', 400, 'BAD_REQUEST', { ...json, authorization: `Bearer ${secret}` }),
    as('zipUrl is a number', { ...job('req-types-1'), zipUrl: 42 }, 400, 'BAD_REQUEST'),
    as('slug is a list', { ...job('req-types-2'), slug: ['a'] }, 400, 'BAD_REQUEST'),
    as('code is an object', { ...job('req-types-3'), code: { $gt: '' } }, 400, 'BAD_REQUEST'),
    as('mongoId missing', { ...job('req-types-4'), mongoId: undefined }, 400, 'BAD_REQUEST'),
    as('mongoId with control characters', { ...job('req-types-5'), mongoId: 'abc\u0000\n' }, 400, 'BAD_REQUEST'),
    as('body of 70 KiB', { ...job('req-big'), metadata: { pad: 'x'.repeat(70 * 1024) } }, 413, 'BODY_TOO_LARGE'),
    // Parses fine, then overflows JSON.stringify's stack when the job is saved or called back.
    as('metadata nested 30000 deep', JSON.stringify({ ...job('req-deep'), metadata: null }).replace('"metadata":null', `"metadata":${'['.repeat(30_000)}${']'.repeat(30_000)}`), 400, 'BAD_REQUEST'),
    { name: 'body of 80 KiB without Content-Length', body: chunked, headers: json, status: 413, code: 'BODY_TOO_LARGE' },
    as('slug climbing folders', job('../../etc/passwd'), 400, 'BAD_SLUG'),
    as('slug starting with a dot', job('.hidden'), 400, 'BAD_SLUG'),
    as('slug with a space and unicode', job('tape ✓'), 400, 'BAD_SLUG'),
    as('slug of 129 characters', job('a'.repeat(129)), 400, 'BAD_REQUEST'),
    as('no secret at all', unsigned, 401, 'UNAUTHORIZED'),
    as('wrong secret in the body', { ...job('req-secret-1'), callbackSecret: 'wrong-secret-0123456789' }, 401, 'UNAUTHORIZED'),
    as('the secret plus one character', { ...job('req-secret-2'), callbackSecret: secret + 'x' }, 401, 'UNAUTHORIZED'),
    as('the secret less its last character', { ...job('req-secret-3'), callbackSecret: secret.slice(0, -1) }, 401, 'UNAUTHORIZED'),
    as('wrong Bearer header', unsigned, 401, 'UNAUTHORIZED', { ...json, authorization: `Bearer ${secret.toUpperCase()}` }),
    as('zipUrl file:///etc/passwd', { ...job('req-url-1'), zipUrl: 'file:///etc/passwd' }, 400, 'BAD_URL'),
    as('zipUrl with a user and password', { ...job('req-url-2'), zipUrl: 'http://user:pw@127.0.0.1/x.zip' }, 400, 'BAD_URL'),
    as('callbackUrl gopher://', { ...job('req-url-3'), callbackUrl: 'gopher://127.0.0.1:70/' }, 400, 'BAD_URL'),
  ];
}

export interface PrivateUrlCase {
  name: string;
  zipUrl: string;
  callbackUrl: string;
  /** The field the refusal must name. */
  field: 'zipUrl' | 'callbackUrl';
}

/**
 * URLs an oven with OVEN_ALLOW_PRIVATE_NETWORKS=false must refuse at POST time (400 URL_REFUSED).
 * `port` is a live loopback port, so a wrongly allowed fetch would really reach something.
 */
export function privateUrls(port: number, goodCallbackUrl: string): PrivateUrlCase[] {
  // A public address as a literal: no DNS lookup, so the case does not depend on the network.
  const publicZip = 'http://93.184.216.34/tape.zip';
  const zip = (name: string, zipUrl: string): PrivateUrlCase => ({ name, zipUrl, callbackUrl: goodCallbackUrl, field: 'zipUrl' });
  return [
    zip('loopback 127.0.0.1', `http://127.0.0.1:${port}/tape.zip`),
    zip('loopback written as 0x7f.1', `http://0x7f.1:${port}/tape.zip`),
    zip('10/8', 'http://10.1.2.3/tape.zip'),
    zip('cloud metadata 169.254.169.254', 'http://169.254.169.254/latest/meta-data/'),
    zip('cloud metadata by name', 'http://metadata.google.internal/computeMetadata/v1/'),
    zip('IPv6 loopback [::1]', `http://[::1]:${port}/tape.zip`),
    zip('IPv4-mapped loopback [::ffff:127.0.0.1]', `http://[::ffff:127.0.0.1]:${port}/tape.zip`),
    zip('a name resolving to loopback (localhost)', `http://localhost:${port}/tape.zip`),
    { name: 'callbackUrl on loopback', zipUrl: publicZip, callbackUrl: `http://127.0.0.1:${port}/cb`, field: 'callbackUrl' },
    { name: 'callbackUrl on 192.168/16', zipUrl: publicZip, callbackUrl: 'https://192.168.1.10/cb', field: 'callbackUrl' },
  ];
}
