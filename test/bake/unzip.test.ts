import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { extractTape, type UnzipLimits } from '../../service/bake/unzip.ts';
import { OvenError } from '../../service/errors.ts';
import { hostileZips, tinyPng } from '../helpers/hostile-zips.ts';
import { makeTapeZip, solidPng, tapeEntries } from '../helpers/sample-tape.ts';
import { buildZip } from '../helpers/zip.ts';

const LIMITS: UnzipLimits = { maxEntries: 20000, maxUnzippedBytes: 1024 * 1024 * 1024 };
let root: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-unzip-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A job folder holding the ZIP and an empty `out` folder, as the pipeline lays it out. */
async function job(zip: Buffer): Promise<{ dir: string; zipPath: string; out: string }> {
  const dir = await mkdtemp(path.join(root, 'job-'));
  const zipPath = path.join(dir, 'tape.zip');
  await writeFile(zipPath, zip);
  const out = path.join(dir, 'out');
  await mkdir(out);
  return { dir, zipPath, out };
}

async function refusal(promise: Promise<unknown>): Promise<OvenError> {
  const err = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof OvenError, `expected an OvenError, got ${String(err)}`);
  return err;
}

for (const hostile of hostileZips()) {
  test(`refuses a ZIP with ${hostile.name} (${hostile.code}) and writes nothing`, async () => {
    const { dir, zipPath, out } = await job(hostile.zip);
    const rootBefore = await readdir(root);
    const dirBefore = await readdir(dir);
    const err = await refusal(extractTape(zipPath, out, LIMITS));
    assert.equal(err.code, hostile.code, err.message);
    assert.deepEqual(await readdir(out), [], 'nothing left in the output folder');
    assert.deepEqual(await readdir(dir), dirBefore);
    assert.deepEqual(await readdir(root), rootBefore);
    for (const escape of ['../evil', '../../evil', '../tape/frame-00000.png']) assert.equal(existsSync(path.resolve(out, escape)), false, escape);
    assert.equal(existsSync('/oven-evil-absolute'), false);
  });
}

test('unpacks a good tape under generated names, in frame order', async () => {
  const entries = await tapeEntries({ durationsMs: [10, 20, 30], soundSeconds: 0.1 });
  // Shuffled in the ZIP, with the litter macOS and people add.
  const zip = buildZip([
    entries[2]!,
    { name: '__MACOSX/', isDirectory: true },
    { name: '__MACOSX/._frame-00000.png', data: 'apple double' },
    entries[0]!,
    { name: '.DS_Store', data: 'finder' },
    ...entries.slice(3),
    { name: 'notes/readme.txt', data: 'hello' },
    entries[1]!,
  ]);
  const { zipPath, out } = await job(zip);
  const tape = await extractTape(zipPath, out, LIMITS);
  assert.equal(tape.dir, out);
  assert.deepEqual(
    tape.frames.map((f) => [f.index, path.basename(f.path), f.originalName]),
    [
      [0, 'f000000.png', 'frame-00000.png'],
      [1, 'f000001.png', 'frame-00001.png'],
      [2, 'f000002.png', 'frame-00002.png'],
    ],
  );
  for (const [i, frame] of tape.frames.entries()) {
    assert.ok(frame.path.startsWith(out + path.sep));
    assert.deepEqual(await readFile(frame.path), entries[i]!.data);
  }
  assert.equal(tape.timingPath, path.join(out, 'timing.json'));
  assert.equal(tape.metadataPath, path.join(out, 'metadata.json'));
  assert.equal(tape.soundtrackPath, path.join(out, 'soundtrack.wav'));
  assert.deepEqual((await readdir(out)).sort(), ['f000000.png', 'f000001.png', 'f000002.png', 'metadata.json', 'soundtrack.wav', 'timing.json']);
});

test('unpacks a tape zipped inside one top-level folder, and stored entries', async () => {
  const entries = (await tapeEntries({ durationsMs: [10, 20], folder: 'tape-2025', soundSeconds: null })).map((e) => ({ ...e, method: 'store' as const }));
  const { zipPath, out } = await job(buildZip([{ name: 'tape-2025/', isDirectory: true }, ...entries]));
  const tape = await extractTape(zipPath, out, LIMITS);
  assert.deepEqual(tape.frames.map((f) => f.originalName), ['tape-2025/frame-00000.png', 'tape-2025/frame-00001.png']);
  assert.ok(tape.timingPath);
  assert.equal(tape.soundtrackPath, undefined);
  assert.equal(existsSync(path.join(out, 'tape-2025')), false, 'no folder is made from an entry name');
});

test('refuses frames in two folders: two tapes in one ZIP', async () => {
  const png = tinyPng();
  const zip = buildZip([
    { name: 'a/frame-00000.png', data: png },
    { name: 'b/frame-00000.png', data: png },
  ]);
  const { zipPath, out } = await job(zip);
  assert.equal((await refusal(extractTape(zipPath, out, LIMITS))).code, 'ZIP_INVALID');
});

test('takes old-style frame names, and returns no timing when there is none', async () => {
  const zip = await makeTapeZip({ durationsMs: [1, 1, 1], oldNames: true, timing: false, metadata: false, soundSeconds: null });
  const { zipPath, out } = await job(zip);
  const tape = await extractTape(zipPath, out, LIMITS);
  assert.deepEqual(tape.frames.map((f) => f.originalName), ['frame000000.png', 'frame000001.png', 'frame000002.png']);
  assert.equal(tape.timingPath, undefined);
  assert.equal(tape.metadataPath, undefined);
});

test('a ZIP with nothing but litter unpacks to no frames (readTape then says TAPE_NO_FRAMES)', async () => {
  const { zipPath, out } = await job(buildZip([{ name: 'readme.txt', data: 'hi' }]));
  const tape = await extractTape(zipPath, out, LIMITS);
  assert.deepEqual(tape.frames, []);
  assert.deepEqual(await readdir(out), []);
});

test('refuses more entries than maxEntries before reading them', async () => {
  const zip = await makeTapeZip({ durationsMs: [10, 10, 10] });
  const { zipPath, out } = await job(zip);
  const err = await refusal(extractTape(zipPath, out, { ...LIMITS, maxEntries: 4 }));
  assert.equal(err.code, 'ZIP_TOO_MANY_ENTRIES');
  // The same ZIP under a limit it fits.
  await extractTape(zipPath, out, { ...LIMITS, maxEntries: 6 });
});

test('refuses a ZIP whose declared total passes maxUnzippedBytes, before writing', async () => {
  const noise = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919) % 251));
  const zip = buildZip([0, 1, 2].map((i) => ({ name: `frame-0000${i}.png`, data: noise(40_000), method: 'store' as const })));
  const { zipPath, out } = await job(zip);
  const err = await refusal(extractTape(zipPath, out, { ...LIMITS, maxUnzippedBytes: 100_000 }));
  assert.equal(err.code, 'ZIP_BOMB');
  assert.deepEqual(await readdir(out), []);
});

test('refuses an entry past maxEntryBytes, and honours a custom maxRatio', async () => {
  const big = { name: 'frame-00000.png', data: Buffer.alloc(2 * 1024 * 1024, 1) };
  const { zipPath, out } = await job(buildZip([big]));
  assert.equal((await refusal(extractTape(zipPath, out, { ...LIMITS, maxEntryBytes: 1024 * 1024 }))).code, 'ZIP_BOMB');
  assert.equal((await refusal(extractTape(zipPath, out, LIMITS))).code, 'ZIP_BOMB', 'ratio ~1000:1 is past the default');
  const tape = await extractTape(zipPath, out, { ...LIMITS, maxRatio: 5000 });
  assert.equal(tape.frames.length, 1);
});

test('a silent soundtrack compresses like a bomb but is accepted', async () => {
  const silence = Buffer.concat([Buffer.from('RIFF\0\0\0\0WAVE'), Buffer.alloc(3 * 1024 * 1024)]);
  const zip = buildZip([{ name: 'frame-00000.png', data: await solidPng(16, 12, [0, 0, 0]) }, { name: 'soundtrack.wav', data: silence }]);
  const { zipPath, out } = await job(zip);
  const tape = await extractTape(zipPath, out, LIMITS);
  assert.equal((await readFile(tape.soundtrackPath!)).length, silence.length);
});

test('a header that lies is caught while streaming, and what was written is removed', async () => {
  // The entry claims 100 bytes (so every declared check passes) but inflates to 300 kB.
  const zip = buildZip([
    { name: 'frame-00000.png', data: tinyPng() },
    { name: 'frame-00001.png', data: Buffer.alloc(300_000, 3), declaredUncompressedSize: 100 },
  ]);
  const { zipPath, out } = await job(zip);
  const err = await refusal(extractTape(zipPath, out, { ...LIMITS, maxUnzippedBytes: 200_000 }));
  assert.equal(err.code, 'ZIP_BOMB');
  assert.match(err.message, /frame-00001\.png.*lies about its sizes/);
  assert.deepEqual(await readdir(out), [], 'the frame written before the lie is removed');
});

test('refuses an unsupported compression method before writing', async () => {
  const zip = buildZip([{ name: 'frame-00000.png', data: tinyPng(), method: 'store' }]);
  zip.writeUInt16LE(12, 8); // local header: bzip2
  zip.writeUInt16LE(12, zip.length - 22 - (46 + 'frame-00000.png'.length) + 10); // central header
  const { zipPath, out } = await job(zip);
  assert.equal((await refusal(extractTape(zipPath, out, LIMITS))).code, 'ZIP_INVALID');
  assert.deepEqual(await readdir(out), []);
});

test('corrupt deflate data is ZIP_INVALID and leaves nothing behind', async () => {
  const zip = buildZip([
    { name: 'frame-00000.png', data: tinyPng() },
    { name: 'frame-00001.png', data: Buffer.alloc(5000, 9) },
  ]);
  // Scribble over the second entry's compressed bytes (after its 30-byte header and name).
  const second = zip.indexOf(Buffer.from('frame-00001.png')) + 'frame-00001.png'.length;
  zip.fill(0xff, second, second + 8);
  const { zipPath, out } = await job(zip);
  assert.equal((await refusal(extractTape(zipPath, out, LIMITS))).code, 'ZIP_INVALID');
  assert.deepEqual(await readdir(out), []);
});

test('an entry that inflates to fewer bytes than its header says, or has no local header where the directory points, is ZIP_INVALID', async () => {
  const short = buildZip([
    { name: 'frame-00000.png', data: tinyPng() },
    { name: 'frame-00001.png', data: Buffer.alloc(5000, 9), declaredUncompressedSize: 6000 },
  ]);
  let { zipPath, out } = await job(short);
  let err = await refusal(extractTape(zipPath, out, LIMITS));
  assert.equal(err.code, 'ZIP_INVALID');
  assert.match(err.message, /frame-00001\.png.*fewer than the 6000 bytes/);
  assert.deepEqual(await readdir(out), []);

  const moved = buildZip([{ name: 'frame-00000.png', data: tinyPng() }, { name: 'frame-00001.png', data: tinyPng() }]);
  const second = moved.indexOf(Buffer.from('PK\x03\x04', 'latin1'), 4);
  moved.writeUInt32LE(0x2a2a2a2a, second); // the second local header's signature, scribbled over
  ({ zipPath, out } = await job(moved));
  err = await refusal(extractTape(zipPath, out, LIMITS));
  assert.equal(err.code, 'ZIP_INVALID');
  assert.match(err.message, /frame-00001\.png.*no local header/);
  assert.deepEqual(await readdir(out), []);
});

test('a missing ZIP file is not blamed on the tape', async () => {
  const err = await refusal(extractTape(path.join(root, 'nope.zip'), path.join(root, 'nope-out'), LIMITS));
  assert.equal(err.code, 'INTERNAL');
});
