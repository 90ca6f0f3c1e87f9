// The WebM against the tape: VP9 and Opus, the MP4's size, each frame at its recorded time, the
// sound in sync and cut to length, and a real Chromium that plays it for as long as the tape.
// Real ffmpeg on generated tapes; the browser fetches the file from 127.0.0.1 only.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { loadConfig } from '../../service/config.ts';
import { encodeTape } from '../../service/bake/encode.ts';
import { bakeLimitsFrom } from '../../service/bake/limits.ts';
import { encodeWebm } from '../../service/bake/webm.ts';
import { CHROMIUM, launchChromium, MEDIA_FLAGS } from '../helpers/chromium.ts';
import { assertFramesOnTime, firstLoudSample, hitchyDurations, startsOf, steadyDurations, type TapeSpec, probeStreams, unpackedTape } from '../helpers/tapes.ts';

const run = promisify(execFile);
const limits = bakeLimitsFrom(loadConfig({}));
let root: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-webm-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A generated tape, zipped, unpacked and checked as a bake does it. */
const tapeOf = (spec: TapeSpec) => unpackedTape(root, spec, limits);

const options = { ffmpegPath: limits.ffmpegPath, scale: limits.scale, timeoutSeconds: 60 };

/** Where the decoded audio ends and when its first loud sample plays, on the file's own clock (the video's zero). */
async function soundOf(file: string): Promise<{ onsetS: number; endS: number }> {
  const { stdout } = await run('ffprobe', ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'frame=pts_time,nb_samples', '-of', 'json', file], { maxBuffer: 16 << 20 });
  const frames = (JSON.parse(stdout) as { frames: { pts_time: string; nb_samples: number }[] }).frames;
  const startS = Number(frames[0]!.pts_time);
  const last = frames.at(-1)!;
  const onset = await firstLoudSample(file);
  return { onsetS: startS + onset / 48000, endS: Number(last.pts_time) + last.nb_samples / 48000 };
}

test('a hitchy tape with sound: VP9 + Opus at the MP4’s size, every frame at its recorded start, the sound in sync and cut', async (t) => {
  const durations = hitchyDurations(2.2, 23);
  const total = durations.reduce((a, b) => a + b, 0);
  // AC's recorder pads the soundtrack with up to ~85 ms of silence.
  const { tape, out } = await tapeOf({ width: 33, height: 24, durationsMs: durations, soundSeconds: total / 1000 + 0.085 });
  const webm = path.join(out, 'tape.webm');
  const progress: number[] = [];
  const result = await encodeWebm(tape, webm, { ...options, onProgress: (f) => progress.push(f) });
  assert.equal(result.bytes, (await stat(webm)).size);
  assert.ok(progress.length > 0 && progress.at(-1) === 1 && progress.every((p, i) => i === 0 || p > progress[i - 1]!), progress.join(','));

  const mp4 = await encodeTape(tape, path.join(out, 'tape.mp4'), options);
  assert.deepEqual([result.width, result.height], [mp4.width, mp4.height]);
  assert.deepEqual([result.width, result.height], [100, 72]);

  const { video, audio, formatName } = await probeStreams(webm);
  assert.ok(video && audio);
  assert.match(formatName, /webm/);
  assert.equal(video.codec_name, 'vp9');
  assert.equal(video.pix_fmt, 'yuv420p');
  assert.deepEqual([video.width, video.height], [100, 72]);
  assert.equal(audio.codec_name, 'opus');

  // Each tape frame once, in order, at its recorded start (the WebM clock counts milliseconds),
  // then the repeat of the last frame that marks the tape's end.
  const worst = await assertFramesOnTime(webm, durations, { endMarker: true });
  t.diagnostic(`${durations.length} frames, furthest from its recorded start by ${worst.toFixed(3)} ms`);

  // The soundtrack's first loud burst is at exactly 1 s after the first frame.
  const sound = await soundOf(webm);
  t.diagnostic(`burst heard at ${sound.onsetS.toFixed(4)} s, sound ends at ${sound.endS.toFixed(4)} s, tape ${(total / 1000).toFixed(4)} s`);
  assert.ok(Math.abs(sound.onsetS - 1) <= 0.005, `the 1 s burst is heard at ${sound.onsetS} s`);
  assert.ok(Math.abs(sound.endS * 1000 - total) <= 25, `the sound ends at ${sound.endS} s, the tape at ${total} ms`);
});

test('no soundtrack: no audio stream; a soundtrack far longer than the frames is cut', async () => {
  const silent = await tapeOf({ width: 16, height: 16, durationsMs: steadyDurations(0.5, 30), soundSeconds: null });
  const silentWebm = path.join(silent.out, 'silent.webm');
  await encodeWebm(silent.tape, silentWebm, options);
  const { video, audio } = await probeStreams(silentWebm);
  assert.ok(video);
  assert.equal(audio, undefined);

  const long = await tapeOf({ width: 16, height: 16, durationsMs: steadyDurations(1, 30), soundSeconds: 20 });
  const longWebm = path.join(long.out, 'long.webm');
  await encodeWebm(long.tape, longWebm, options);
  const { formatSeconds } = await probeStreams(longWebm);
  const sound = await soundOf(longWebm);
  assert.ok(sound.endS * 1000 <= long.tape.durationMs + 25, `the sound lasts to ${sound.endS} s`);
  assert.ok(formatSeconds * 1000 <= long.tape.durationMs + 25, `the file lasts ${formatSeconds} s`);
});

/**
 * The player page. Its script is plain text: functions passed to page.evaluate from here would be
 * compiled by tsx, whose helpers do not exist in the page.
 */
const PAGE = `<!doctype html><video id="v" muted playsinline preload="auto" src="/video.webm"></video>
<script>
const v = document.getElementById('v');
function metadata() {
  return new Promise((resolve) => {
    const done = () => resolve({ duration: v.duration, width: v.videoWidth, height: v.videoHeight });
    if (v.readyState >= 1) return done();
    v.addEventListener('loadedmetadata', done, { once: true });
    v.addEventListener('error', () => resolve({ duration: NaN, width: 0, height: 0, error: (v.error && v.error.message) || 'media error' }), { once: true });
  });
}
// The timestamp of the frame Chromium shows once it has seeked to \`t\`.
function frameShownAt(t) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ error: 'no frame was shown' }), 10000);
    v.requestVideoFrameCallback((now, frame) => { clearTimeout(timer); resolve({ mediaTime: frame.mediaTime }); });
    v.currentTime = t;
  });
}
function playToEnd() {
  v.currentTime = 0;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ended: v.ended, currentTime: v.currentTime }), 15000);
    v.addEventListener('ended', () => { clearTimeout(timer); resolve({ ended: true, currentTime: v.currentTime }); }, { once: true });
    v.play().catch((e) => { clearTimeout(timer); resolve({ ended: false, currentTime: v.currentTime, error: String(e) }); });
  });
}
</script>`;

/** Serves one file on 127.0.0.1, whole (200) or a byte range (206), as a media element asks. */
async function serveFile(file: string, type: string): Promise<{ url: string; close: () => Promise<void> }> {
  const { size } = await stat(file);
  const server = http.createServer((req, res) => {
    if (req.url !== '/' && req.url !== '/video.webm') return void res.writeHead(404).end();
    if (req.url === '/') {
      return void res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
    }
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    const start = range?.[1] ? Number(range[1]) : 0;
    const endAt = range?.[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (range && (start > endAt || start >= size)) return void res.writeHead(416, { 'content-range': `bytes */${size}` }).end();
    res.writeHead(range ? 206 : 200, {
      'content-type': type,
      'accept-ranges': 'bytes',
      'content-length': endAt - start + 1,
      ...(range ? { 'content-range': `bytes ${start}-${endAt}/${size}` } : {}),
    });
    createReadStream(file, { start, end: endAt }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

test('Chromium plays the WebM: its length is the tape’s, its size the MP4’s, and it ends', { timeout: 90_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), 'Chromium is missing: run `npm run setup -- --test`');
  const durations = [...hitchyDurations(1.2, 23), 250];
  const total = durations.reduce((a, b) => a + b, 0);
  const { tape, out } = await tapeOf({ width: 33, height: 24, durationsMs: durations, soundSeconds: total / 1000 + 0.085 });
  const webm = path.join(out, 'play.webm');
  const result = await encodeWebm(tape, webm, options);
  const server = await serveFile(webm, 'video/webm');
  const browser = await launchChromium([...MEDIA_FLAGS, '--autoplay-policy=no-user-gesture-required']);
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(server.url);
    const meta = (await page.evaluate('metadata()')) as { duration: number; width: number; height: number; error?: string };
    assert.equal(meta.error, undefined, `Chromium could not load the WebM: ${meta.error}`);
    t.diagnostic(`Chromium: ${meta.duration} s, ${meta.width}×${meta.height}; the tape lasts ${total.toFixed(2)} ms`);
    assert.ok(Math.abs(meta.duration * 1000 - total) <= 50, `Chromium says ${meta.duration} s, the tape lasts ${total} ms`);
    assert.deepEqual([meta.width, meta.height], [result.width, result.height]);

    // Seeked into a frame, Chromium shows that frame, and says it starts at its recorded time.
    const starts = startsOf(durations);
    for (const i of [3, durations.indexOf(250), durations.length - 1]) {
      const shown = (await page.evaluate(`frameShownAt(${(starts[i]! + durations[i]! / 2) / 1000})`)) as { mediaTime?: number; error?: string };
      assert.equal(shown.error, undefined, `seeking into frame ${i}: ${shown.error}`);
      assert.ok(Math.abs(shown.mediaTime! * 1000 - starts[i]!) <= 1, `frame ${i}: Chromium shows a frame of ${shown.mediaTime} s, recorded at ${starts[i]!.toFixed(3)} ms`);
    }

    const played = (await page.evaluate('playToEnd()')) as { ended: boolean; currentTime: number; error?: string };
    t.diagnostic(`ended at ${played.currentTime} s`);
    assert.ok(played.ended, `the video did not end (at ${played.currentTime} s${played.error ? `: ${played.error}` : ''})`);
    assert.ok(Math.abs(played.currentTime * 1000 - total) <= 50, `it ended at ${played.currentTime} s, the tape lasts ${total} ms`);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.close();
  }
});
