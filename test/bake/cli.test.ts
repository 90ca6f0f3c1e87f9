// `npm run bake`: one JSON line and two files on success; one `oven: ` line and exit 1 on a bad
// tape; exit 2 and a usage line on bad arguments. Run as a real child process.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { makeTapeFiles, makeTapeZip } from '../helpers/tapes.ts';
import { buildZip } from '../helpers/zip.ts';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
let root: string;
let tempDir: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-cli-test-'));
  tempDir = path.join(root, 'temp');
  await mkdir(tempDir);
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'service/cli.ts', ...args],
      { cwd: repo, env: { ...process.env, TEMP_DIR: tempDir, NODE_ENV: 'development' } },
      (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code) : 0, stdout, stderr }),
    );
  });
}

test('a good tape: one line of JSON on stdout, SLUG.mp4 and SLUG-thumb.jpg in --out, nothing left in TEMP_DIR', async () => {
  const zip = path.join(root, '2026.11.24.10.30.15.123.zip');
  await writeFile(zip, await makeTapeZip({ durationsMs: [16.67, 16.67, 250, 16.67, 100.4, 16.67] }));
  const out = path.join(root, 'out');
  const { code, stdout, stderr } = await cli([zip, '--out', out]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, '');
  const lines = stdout.trimEnd().split('\n');
  assert.equal(lines.length, 1, stdout);
  const summary = JSON.parse(lines[0]!) as Record<string, unknown>;
  const slug = '2026.11.24.10.30.15.123';
  assert.equal(summary.slug, slug);
  assert.equal(summary.mp4, path.join(out, `${slug}.mp4`));
  assert.equal(summary.thumbnail, path.join(out, `${slug}-thumb.jpg`));
  assert.equal(summary.frames, 6);
  assert.equal(summary.width, 96);
  assert.equal(summary.height, 72);
  assert.ok(Math.abs(Number(summary.durationMs) - 417.09) < 0.01);
  assert.equal(summary.bytes, (await stat(path.join(out, `${slug}.mp4`))).size);
  assert.ok((await stat(path.join(out, `${slug}-thumb.jpg`))).size > 0);
  assert.ok(typeof summary.ms === 'number');
  assert.deepEqual(await readdir(tempDir), []);
});

test('--slug names the files', async () => {
  const zip = path.join(root, 'any.zip');
  await writeFile(zip, await makeTapeZip({ durationsMs: [50, 50], soundSeconds: null }));
  const out = path.join(root, 'named');
  const { code, stdout } = await cli([zip, '--out', out, '--slug', 'abc_1']);
  assert.equal(code, 0);
  assert.equal((JSON.parse(stdout) as { slug: string }).slug, 'abc_1');
  assert.deepEqual((await readdir(out)).sort(), ['abc_1-thumb.jpg', 'abc_1.mp4']);
});

test('a bad tape: exit 1, exactly one `oven: ` line with the code, no stack, nothing on stdout', async () => {
  const files = await makeTapeFiles({ durationsMs: [50, 50] });
  const zip = path.join(root, 'evil.zip');
  await writeFile(zip, buildZip([...files, { name: '../../etc/evil.png', data: files[0]!.data }]));
  const { code, stdout, stderr } = await cli([zip, '--out', path.join(root, 'never')]);
  assert.equal(code, 1);
  assert.equal(stdout, '');
  assert.match(stderr, /^oven: [^\n]+\(ZIP_UNSAFE_PATH\)\.\n$/);
  assert.doesNotMatch(stderr, /\bat .+:\d+:\d+/);
  await assert.rejects(stat(path.join(root, 'never', 'evil.mp4')));
  assert.deepEqual(await readdir(tempDir), []);
});

test('a missing file: exit 1 with one line', async () => {
  const { code, stderr } = await cli([path.join(root, 'nope.zip')]);
  assert.equal(code, 1);
  assert.match(stderr, /^oven: [^\n]+\([A-Z_]+\)\.\n$/);
});

test('bad arguments: exit 2 with a usage line', async () => {
  for (const args of [[], ['a.zip', 'b.zip'], ['--nope', 'a.zip'], ['a.zip', '--slug', '../x'], ['.hidden.zip']]) {
    const { code, stdout, stderr } = await cli(args);
    assert.equal(code, 2, `args ${args.join(' ')}`);
    assert.equal(stdout, '');
    assert.match(stderr, /usage: npm run bake -- <tape\.zip \| https URL>/);
    assert.ok(stderr.trimEnd().split('\n').length <= 2, stderr);
  }
});

test('--outputs webm,gif writes SLUG.webm and SLUG.gif beside the MP4 and names them in the summary; an unknown output is a usage error', async () => {
  const zip = path.join(root, 'extras.zip');
  await writeFile(zip, await makeTapeZip({ durationsMs: [40, 40, 40, 40], soundSeconds: 0.16 }));
  const out = path.join(root, 'extras-out');
  const r = await cli([zip, '--out', out, '--outputs', 'webm,gif']);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout);
  assert.deepEqual(summary.outputs, { webm: path.join(out, 'extras.webm'), gif: path.join(out, 'extras.gif') });
  assert.deepEqual((await readdir(out)).sort(), ['extras-thumb.jpg', 'extras.gif', 'extras.mp4', 'extras.webm']);
  const bad = await cli([zip, '--out', out, '--outputs', 'webm,mp3']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--outputs takes webm and gif .*not "mp3"/);
});
