// The whole bake: stages and progress, the work folder removed whatever happens, ffmpeg stopped
// by the wall-clock limit and by abort, failures as codes with short sentences.

import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../service/config.ts';
import { isOvenError } from '../../service/errors.ts';
import { bakeLimitsFrom, bakeTape, withWorkDir, type BakeInput, type BakeLimits, type BakeStage } from '../../service/bake/index.ts';
import { decodeVideoFrames, hitchyDurations, makeTapeFiles, makeTapeZip, type TapeSpec } from '../helpers/tapes.ts';
import { buildZip } from '../helpers/zip.ts';

const limits: BakeLimits = bakeLimitsFrom(loadConfig({}));
let root: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-bake-test-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

async function zipFile(zip: Buffer | Promise<Buffer>): Promise<string> {
  const dir = await mkdtemp(path.join(root, 'zip-'));
  const file = path.join(dir, 'tape.zip');
  await writeFile(file, await zip);
  return file;
}

/** Bake inside withWorkDir under a fresh temp folder; returns what happened and whether the folder is gone. */
async function bakeInTemp(source: string, extra: Partial<BakeInput> = {}) {
  const tempDir = await mkdtemp(path.join(root, 'temp-'));
  let workDir = '';
  const outcome = await withWorkDir(tempDir, 'slug', async (dir) => {
    workDir = dir;
    return bakeTape({ source, slug: 'slug', workDir: dir, limits, ...extra });
  }).then(
    (result) => ({ result, error: undefined }),
    (error: unknown) => ({ result: undefined, error }),
  );
  return { ...outcome, workDir, leftovers: await readdir(tempDir) };
}

/** Command lines of the processes that mention `text` (to prove ffmpeg was really stopped). */
async function processesMentioning(text: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) found.push(`${pid}: ${cmdline.replace(/\0/g, ' ')}`);
  }
  return found;
}

const busySpec: TapeSpec = { width: 320, height: 240, durationsMs: hitchyDurations(3), busy: true };

test('a bake reports its stages in order and progress from 0 to 1, never going back', async () => {
  const source = await zipFile(makeTapeZip(busySpec));
  const stages: BakeStage[] = [];
  const progress: number[] = [];
  const { result, error, leftovers } = await bakeInTemp(source, { onStage: (s) => stages.push(s), onProgress: (f) => progress.push(f) });
  assert.equal(error, undefined);
  assert.ok(result);
  assert.deepEqual(stages, ['downloading', 'extracting', 'encoding']);
  assert.ok(progress.length >= 3);
  assert.ok(progress.every((p, i) => p > 0 && p <= 1 && (i === 0 || p > progress[i - 1]!)), progress.join(' '));
  assert.equal(progress[progress.length - 1], 1);
  assert.ok(progress.some((p) => p > 0.3 && p < 0.9), `ffmpeg's own progress shows between the stages: ${progress.join(' ')}`);
  assert.equal(result.zipBytes, (await stat(source)).size);
  assert.equal(result.frames, busySpec.durationsMs.length);
  assert.deepEqual([result.width, result.height], [960, 720]);
  for (const ms of Object.values(result.timings)) assert.ok(Number.isInteger(ms) && ms >= 0);
  assert.deepEqual(leftovers, [], 'the work folder is removed after a good bake');
});

test('a download function replaces fetching (the service\'s credentialed S3 path)', async () => {
  const zip = await zipFile(makeTapeZip({ durationsMs: [50, 50, 50] }));
  const { result, error } = await bakeInTemp('s3://not-fetched/tape.zip', {
    download: async (dest) => {
      await copyFile(zip, dest);
      return { bytes: (await stat(dest)).size };
    },
  });
  assert.equal(error, undefined);
  assert.equal(result?.frames, 3);
});

test('an unsafe ZIP fails with its code and the work folder is removed', async () => {
  const files = await makeTapeFiles({ durationsMs: [50, 50] });
  const source = await zipFile(buildZip([...files, { name: '../evil.png', data: files[0]!.data }]));
  const { error, leftovers } = await bakeInTemp(source);
  assert.ok(isOvenError(error), String(error));
  assert.equal(error.code, 'ZIP_UNSAFE_PATH');
  assert.deepEqual(leftovers, []);
});

test('withWorkDir removes its folder when the work throws, and passes the error on', async () => {
  const tempDir = await mkdtemp(path.join(root, 'temp-'));
  let seen = '';
  await assert.rejects(
    withWorkDir(tempDir, 'a/../b', async (dir) => {
      seen = dir;
      await mkdir(path.join(dir, 'deep', 'er'), { recursive: true });
      await writeFile(path.join(dir, 'deep', 'er', 'file'), 'x');
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(path.dirname(seen), tempDir, 'the folder is made inside tempDir whatever the slug says');
  assert.deepEqual(await readdir(tempDir), []);
});

test('older tapes without timing.json, with frame000000.png names, are baked at 30 fps', async () => {
  const source = await zipFile(makeTapeZip({ durationsMs: [1, 1, 1, 1, 1, 1], oldStyleNames: true, withTiming: false, soundSeconds: null }));
  const { result, error } = await bakeInTemp(source);
  assert.equal(error, undefined);
  assert.ok(result);
  assert.equal(result.frames, 6);
  assert.ok(Math.abs(result.durationMs - 200) < 0.01, `6 frames at 30 fps last 200 ms, got ${result.durationMs}`);
});

test('the wall-clock limit kills ffmpeg and fails with ENCODE_TIMEOUT', async () => {
  const source = await zipFile(makeTapeZip(busySpec));
  const { error, workDir, leftovers } = await bakeInTemp(source, { limits: { ...limits, encodeTimeoutSeconds: 0.2 } });
  assert.ok(isOvenError(error), String(error));
  assert.equal(error.code, 'ENCODE_TIMEOUT');
  assert.match(error.message, /longer than 0.2 s/);
  assert.deepEqual(await processesMentioning(workDir), [], 'no ffmpeg is left running');
  assert.deepEqual(leftovers, []);
});

test('aborting while ffmpeg runs kills it and fails with INTERRUPTED', async () => {
  const source = await zipFile(makeTapeZip(busySpec));
  const tempDir = await mkdtemp(path.join(root, 'temp-'));
  const controller = new AbortController();
  let sawFfmpeg = false;
  let workDir = '';
  let poll: NodeJS.Timeout | undefined;
  const error = await withWorkDir(tempDir, 'abort', async (dir) => {
    workDir = dir;
    return bakeTape({
      source, slug: 'abort', workDir: dir, limits, signal: controller.signal,
      onStage: (stage) => {
        if (stage !== 'encoding') return;
        // Abort once ffmpeg is really running on this job's frames.
        let looking = false;
        poll = setInterval(() => {
          if (looking) return;
          looking = true;
          void processesMentioning(path.join(dir, 'tape', 'frames.ffconcat')).then((found) => {
            looking = false;
            if (found.length && !controller.signal.aborted) {
              sawFfmpeg = true;
              controller.abort();
            }
          });
        }, 25);
      },
    });
  }).then(() => undefined, (err: unknown) => err).finally(() => clearInterval(poll));
  assert.ok(sawFfmpeg, 'ffmpeg was running when the bake was aborted');
  assert.ok(isOvenError(error), String(error));
  assert.equal(error.code, 'INTERRUPTED');
  assert.deepEqual(await processesMentioning(workDir), []);
  assert.deepEqual(await readdir(tempDir), []);
});

test('a soundtrack that is not audio fails with TAPE_BAD_SOUNDTRACK', async () => {
  const files = await makeTapeFiles({ durationsMs: [50, 50], soundSeconds: null });
  // A RIFF…WAVE header with no audio behind it: the header check reads on and says so.
  const riff = Buffer.concat([Buffer.from('RIFF'), Buffer.from([28, 0, 0, 0]), Buffer.from('WAVEjunk'), Buffer.from([12, 0, 0, 0]), Buffer.alloc(12, 0x55)]);
  const source = await zipFile(buildZip([...files, { name: 'soundtrack.wav', data: riff }]));
  const { error } = await bakeInTemp(source);
  assert.ok(isOvenError(error), String(error));
  assert.equal(error.code, 'TAPE_BAD_SOUNDTRACK');
  assert.match(error.message, /has no format chunk/);
});

test('an ffmpeg failure is ENCODE_FAILED with one sentence that carries ffmpeg\'s reason, not its whole output', async () => {
  const dir = await mkdtemp(path.join(root, 'fake-'));
  const fake = path.join(dir, 'ffmpeg');
  await writeFile(fake, '#!/bin/sh\nfor i in 1 2 3 4 5 6 7 8 9 10; do echo "noisy ffmpeg line $i" >&2; done\nexit 1\n');
  await chmod(fake, 0o755);
  const source = await zipFile(makeTapeZip({ durationsMs: [50, 50], soundSeconds: null }));
  const { error } = await bakeInTemp(source, { limits: { ...limits, ffmpegPath: fake } });
  assert.ok(isOvenError(error), String(error));
  assert.equal(error.code, 'ENCODE_FAILED');
  assert.match(error.message, /^ffmpeg could not make the MP4: noisy ffmpeg line 1\.$/);
  assert.doesNotMatch(error.message, /line 2|\n/);
});

test('the decoded video of a baked tape with a soundtrack shorter than the frames still shows every frame', async () => {
  const durations = [100, 100, 100, 100, 100];
  const source = await zipFile(makeTapeZip({ durationsMs: durations, soundSeconds: 0.2 }));
  const tempDir = await mkdtemp(path.join(root, 'temp-'));
  const frames = await withWorkDir(tempDir, 'short', async (workDir) => {
    const result = await bakeTape({ source, slug: 'short', workDir, limits });
    return (await decodeVideoFrames(result.mp4Path)).frames;
  });
  assert.deepEqual(frames.map((f) => f.index), [0, 1, 2, 3, 4]);
  assert.ok(Math.abs(frames[4]!.ptsMs - 400) <= 1);
});

test('the extracting stage has a wall-clock limit: past it the bake fails EXTRACT_TIMEOUT and the work folder is removed', async () => {
  const source = await zipFile(makeTapeZip({ width: 64, height: 48, durationsMs: Array(400).fill(16.67), soundSeconds: null }));
  const { error, leftovers } = await bakeInTemp(source, { limits: { ...limits, extractTimeoutSeconds: 0.02 } });
  assert.ok(isOvenError(error), String(error));
  assert.equal(error.code, 'EXTRACT_TIMEOUT');
  assert.match(error.message, /longer than 0.02 s \(OVEN_EXTRACT_TIMEOUT_SECONDS\)/);
  assert.equal(error.retryable, false);
  assert.deepEqual(leftovers, []);
});
