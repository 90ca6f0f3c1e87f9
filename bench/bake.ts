// `npm run bench`: one tape bake three ways, each pinned to one core: the first oven's ffmpeg command,
// a bare ffmpeg run with our settings on the same frames (the floor: what the encode alone costs), and
// the whole `npm run bake` (npm, node, unzip, checks, encode, thumbnail). Prints size, SSIM (All and
// luma, frame by frame at the recorded times), declared level, wall and CPU time, the overhead around
// ffmpeg, peak memory, and what the WebM and GIF outputs add; rewrites its section of bench/RESULTS.md.

import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bakeLimitsFrom } from '../service/bake/limits.ts';
import { mp4Args, planMp4, X264 } from '../service/bake/encode.ts';
import { loadConfig } from '../service/config.ts';
import { checkFrame, readTape } from '../service/bake/tape.ts';
import { extractTape } from '../service/bake/unzip.ts';
import { probeStreams, startsOf } from '../test/helpers/tapes.ts';
import { REPO } from './compiled.ts';
import { BENCH_CORE, describeMachine, hasTaskset, hasTime, loadAverage, measured, median, nowUtc, run, type Measured } from './measure.ts';
import { recordSection } from './results.ts';
import { ssimOf, type Ssim } from './ssim.ts';
import { BENCH_TAPES, writeBenchTape, type BenchTape } from './tapes.ts';

/** The first oven upscaled 3× whatever the size; we prefer OVEN_SCALE (3) and lower it to fit 1920×1080. */
const FIRST_OVEN_SCALE = 3;

interface Timed {
  wallS: number;
  cpuS: number;
}

interface TapeFigures {
  tape: BenchTape;
  rounds: number;
  frames: number;
  firstFps: number;
  firstDriftMs: number;
  first: Timed & { bytes: number; ssim: Ssim; level: number; size: string; peakMb?: number };
  floor: Timed;
  /** `aroundS`: the run's wall time minus its own ffmpeg runs' (median of the rounds). */
  npm: Timed & { bytes: number; ssim: Ssim; level: number; profile: string; size: string; aroundS?: number };
  node: Timed & { nodePeakMb?: number; ffmpegPeakMb?: number; aroundS?: number };
  /** A GIF over OVEN_MAX_GIF_BYTES is left out with a warning: `gifLeftOut` is its code. */
  extras?: { webmBytes: number; webmCpuS: number; gifBytes?: number; gifLeftOut?: string; gifCpuS: number };
}

const summary = (runs: Measured[]): Timed => ({ wallS: median(runs.map((r) => r.wallS)), cpuS: median(runs.map((r) => r.cpuS)) });

/** The first oven's command, verbatim, run in the frames folder. */
function firstOvenCommand(fps: number, out: string): string[] {
  return [
    'ffmpeg', '-nostdin', '-loglevel', 'error', '-y',
    '-r', String(fps), '-i', 'frame-%05d.png', '-i', 'soundtrack.wav',
    '-vf', `scale=iw*${FIRST_OVEN_SCALE}:ih*${FIRST_OVEN_SCALE}:flags=neighbor,scale=trunc(iw/2)*2:trunc(ih/2)*2:flags=neighbor`,
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '128k', '-movflags', '+faststart', out,
  ];
}

/**
 * Our encode as the bake runs it (mp4Args), on the tape unpacked once beforehand: ffmpeg and nothing
 * else. The scale and limits are the CLI's own (the same settings, from the same environment).
 */
async function floorCommand(zip: string, dir: string): Promise<string[]> {
  const limits = bakeLimitsFrom(loadConfig(process.env));
  const extracted = await extractTape(zip, path.join(dir, 'floor'), { ...limits, inspectFrame: (data, name) => checkFrame(data, name, limits.maxFramePixels) });
  const tape = await readTape(extracted, limits);
  const plan = await planMp4(tape, path.join(dir, 'floor.mp4'), limits.scale);
  return ['ffmpeg', '-nostdin', '-hide_banner', '-loglevel', 'error', ...mp4Args(plan)];
}

/**
 * An ffmpeg wrapper, the CLI's FFMPEG_PATH: each ffmpeg run appends its peak RSS (KiB) and wall
 * seconds to the file named by OVEN_BENCH_FFMPEG_LOG, so a bake's time around its own ffmpeg can be
 * told apart from the encode in the same run (steadier than subtracting two noisy medians).
 */
async function ffmpegMeter(dir: string): Promise<string> {
  const wrapper = path.join(dir, 'ffmpeg-measured');
  await writeFile(wrapper, `#!/bin/sh\nexec /usr/bin/time -a -o "$OVEN_BENCH_FFMPEG_LOG" -f '%M %e' ffmpeg "$@"\n`);
  await chmod(wrapper, 0o755);
  return wrapper;
}

/** The ffmpeg runs one bake logged through the wrapper: peak KiB and wall seconds of each. */
async function ffmpegRuns(log: string): Promise<Array<{ peakKb: number; wallS: number }>> {
  const text = await readFile(log, 'utf8').catch(() => '');
  return text.trim().split('\n').filter(Boolean).map((line) => {
    const [peakKb, wallS] = line.split(' ').map(Number);
    return { peakKb: peakKb!, wallS: wallS! };
  });
}

async function benchTape(tape: BenchTape, work: string, cli: string): Promise<TapeFigures> {
  const dir = path.join(work, tape.name.replace(/\W+/g, '-'));
  const { framesDir, zip, durationsMs } = await writeBenchTape(tape, dir);
  const frames = durationsMs.length;
  const floor = await floorCommand(zip, dir);

  // The first oven chose its rate as frames over the soundtrack's length.
  const audioS = (await probeStreams(path.join(framesDir, 'soundtrack.wav'))).formatSeconds;
  const firstFps = Math.round(frames / audioS);
  const firstMp4 = path.join(dir, 'first-oven.mp4');
  const npmOut = path.join(dir, 'npm');
  const nodeOut = path.join(dir, 'node');
  const rssLog = path.join(dir, 'node-rss.txt');
  const meter = hasTime ? await ffmpegMeter(dir) : undefined;
  /** The environment of one measured CLI run, its ffmpeg runs logged to their own file. */
  const cliEnv = (ffmpegLog: string, more: Record<string, string> = {}) => ({
    ...process.env,
    ...more,
    ...(meter ? { FFMPEG_PATH: meter, OVEN_BENCH_FFMPEG_LOG: ffmpegLog } : {}),
  });
  const ffmpegLog = (who: string, round: number) => path.join(dir, `ffmpeg-${who}-${round}.txt`);
  const around = { npm: [] as number[], node: [] as number[] };
  const ffmpegPeaksKb: number[] = [];
  const nodeCli = (out: string, ...more: string[]) => [process.execPath, '--import', path.join(REPO, 'bench/peak-rss.mjs'), cli, zip, '--out', out, '--slug', 'bench', ...more];

  // Rounds interleave the four so that a change in background load hits them alike.
  const runs = { first: [] as Measured[], floor: [] as Measured[], npm: [] as Measured[], node: [] as Measured[] };
  const rounds = Number(process.env.BENCH_ROUNDS ?? tape.rounds);
  for (let round = 0; round < rounds; round++) {
    console.error(`… ${tape.name}: round ${round + 1} of ${rounds}`);
    const first = await measured(firstOvenCommand(firstFps, firstMp4), { cwd: framesDir });
    runs.first.push(first);
    runs.floor.push(await measured(floor));
    for (const who of ['npm', 'node'] as const) {
      const command = who === 'npm' ? ['npm', 'run', '--silent', 'bake', '--', zip, '--out', npmOut, '--slug', 'bench'] : nodeCli(nodeOut);
      const env = cliEnv(ffmpegLog(who, round), who === 'node' ? { OVEN_BENCH_RSS_FILE: rssLog } : {});
      const result = await measured(command, { cwd: REPO, env });
      runs[who].push(result);
      const encodes = await ffmpegRuns(ffmpegLog(who, round));
      if (encodes.length) around[who].push(result.wallS - encodes.reduce((sum, e) => sum + e.wallS, 0));
      if (who === 'node') ffmpegPeaksKb.push(...encodes.map((e) => e.peakKb));
    }
  }

  const ourMp4 = path.join(npmOut, 'bench.mp4');
  const ours = (await probeStreams(ourMp4)).video!;
  const theirs = (await probeStreams(firstMp4)).video!;
  const ourScale = Math.floor(ours.width! / tape.width);
  const kbLines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean).map(Number);

  let extras: TapeFigures['extras'];
  if (tape.seconds <= 10) {
    const mp4Only = summary(runs.node).cpuS;
    const webm = await measured(nodeCli(path.join(dir, 'webm'), '--outputs', 'webm'), { cwd: REPO });
    const gif = await measured(nodeCli(path.join(dir, 'gif'), '--outputs', 'gif'), { cwd: REPO });
    const gifBytes = (await stat(path.join(dir, 'gif', 'bench.gif')).catch(() => undefined))?.size;
    const warnings = (JSON.parse(gif.stdout.trim().split('\n').pop() || '{}') as { warnings?: Array<{ code?: string }> }).warnings ?? [];
    extras = {
      webmBytes: (await stat(path.join(dir, 'webm', 'bench.webm'))).size,
      webmCpuS: webm.cpuS - mp4Only,
      ...(gifBytes !== undefined ? { gifBytes } : { gifLeftOut: warnings.map((w) => w.code).join(', ') || 'no GIF' }),
      gifCpuS: gif.cpuS - mp4Only,
    };
  }

  const starts = startsOf(durationsMs);
  const firstPeakMb = runs.first.at(-1)?.peakMb;
  const nodePeaks = await kbLines(rssLog);
  return {
    tape,
    rounds,
    frames,
    firstFps,
    firstDriftMs: Math.max(...starts.map((s, i) => Math.abs((i * 1000) / firstFps - s))),
    first: {
      ...summary(runs.first),
      bytes: (await stat(firstMp4)).size,
      ssim: await ssimOf(firstMp4, framesDir, frames, FIRST_OVEN_SCALE),
      level: theirs.level ?? NaN,
      size: `${theirs.width}×${theirs.height}`,
      ...(firstPeakMb !== undefined ? { peakMb: firstPeakMb } : {}),
    },
    floor: summary(runs.floor),
    npm: {
      ...summary(runs.npm),
      bytes: (await stat(ourMp4)).size,
      ssim: await ssimOf(ourMp4, framesDir, frames, ourScale),
      level: ours.level ?? NaN,
      profile: ours.profile ?? '?',
      size: `${ours.width}×${ours.height}`,
      ...(around.npm.length ? { aroundS: median(around.npm) } : {}),
    },
    node: {
      ...summary(runs.node),
      ...(nodePeaks.length ? { nodePeakMb: Math.max(...nodePeaks) / 1024 } : {}),
      ...(ffmpegPeaksKb.length ? { ffmpegPeakMb: Math.max(...ffmpegPeaksKb) / 1024 } : {}),
      ...(around.node.length ? { aroundS: median(around.node) } : {}),
    },
    ...(extras ? { extras } : {}),
  };
}

const f1 = (n: number | undefined): string => (n === undefined || Number.isNaN(n) ? 'n/a' : n.toFixed(1));
const f2 = (n: number): string => (Number.isNaN(n) ? 'n/a' : n.toFixed(2));
const f4 = (n: number): string => n.toFixed(4);
const mb = (n: number | undefined): string => (n === undefined ? 'n/a' : n.toFixed(0));
const kib = (n: number): string => `${(n / 1024).toFixed(0)} KiB`;
const x = (n: number): string => `${n.toFixed(2)}×`;
const level = (n: number): string => (Number.isNaN(n) ? '?' : (n / 10).toFixed(1));

function report(all: TapeFigures[], header: string[]): string[] {
  const lines = [...header, ''];
  lines.push('**Size and quality.** SSIM of each MP4 against the source frames (nearest-neighbour upscale), frame N against frame N.', '');
  lines.push('| tape | frames | first oven bytes | our bytes | ours / first | SSIM All, ours / first | SSIM luma, ours / first | our level, profile | first oven level |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |');
  for (const r of all) {
    lines.push(`| ${r.tape.name} | ${r.frames} | ${r.first.bytes} | ${r.npm.bytes} | ${x(r.npm.bytes / r.first.bytes)} | ${f4(r.npm.ssim.all)} / ${f4(r.first.ssim.all)} | ${f4(r.npm.ssim.y)} / ${f4(r.first.ssim.y)} | ${level(r.npm.level)} ${r.npm.profile}, ${r.npm.size} | ${level(r.first.level)}, ${r.first.size} |`);
  }
  lines.push(
    '',
    '**Speed**, one core, median of the rounds: wall / CPU seconds. The floor is a bare ffmpeg run with our settings on the unpacked frames. The overhead is the whole bake minus the floor, in wall time; on this shared machine two runs of the same encode can differ by a second, so it is also given as each bake\'s wall time minus its own ffmpeg run\'s (same run, steadier). The target is judged on the latter.',
    '',
  );
  lines.push('| tape | rounds | first oven | floor (bare ffmpeg) | `npm run bake` | `node dist/service/cli.js` | npm bake / first oven | overhead vs floor, npm / node | around its own ffmpeg, npm / node | node peak MB | ffmpeg peak MB (first oven) |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of all) {
    lines.push(`| ${r.tape.name} | ${r.rounds} | ${f1(r.first.wallS)} / ${f1(r.first.cpuS)} | ${f2(r.floor.wallS)} / ${f2(r.floor.cpuS)} | ${f2(r.npm.wallS)} / ${f2(r.npm.cpuS)} | ${f2(r.node.wallS)} / ${f2(r.node.cpuS)} | ${x(r.npm.wallS / r.first.wallS)} | ${f2(r.npm.wallS - r.floor.wallS)} / ${f2(r.node.wallS - r.floor.wallS)} s | ${f2(r.npm.aroundS ?? NaN)} / ${f2(r.node.aroundS ?? NaN)} s | ${mb(r.node.nodePeakMb)} | ${mb(r.node.ffmpegPeakMb)} (${mb(r.first.peakMb)}) |`);
  }
  const withExtras = all.filter((r) => r.extras);
  if (withExtras.length) {
    lines.push('', '**More outputs** (`--outputs webm` and `--outputs gif`, one run each): the file, and the CPU it adds to the MP4-only bake.', '');
    lines.push('| tape | MP4 | WebM | WebM CPU s | GIF | GIF CPU s |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const r of withExtras) {
      const e = r.extras!;
      lines.push(`| ${r.tape.name} | ${kib(r.npm.bytes)} | ${kib(e.webmBytes)} | +${f2(e.webmCpuS)} | ${e.gifBytes !== undefined ? kib(e.gifBytes) : `left out (${e.gifLeftOut})`} | +${f2(e.gifCpuS)} |`);
    }
  }

  lines.push('', '**Targets**', '');
  for (const r of all) {
    const size = r.npm.bytes / r.first.bytes;
    const quality = r.npm.ssim.all >= r.first.ssim.all && r.npm.ssim.y >= r.first.ssim.y;
    const speed = r.npm.wallS / r.first.wallS;
    const overhead = r.npm.aroundS ?? r.npm.wallS - r.floor.wallS;
    const levelOk = r.npm.level <= 42 && ['Main', 'High'].includes(r.npm.profile);
    const verdicts = [
      `bytes ${x(size)} (≤ 1.0×, aim 0.8×: ${size <= 0.8 ? 'aim met' : size <= 1 ? 'met' : 'MISSED'}) at SSIM ${quality ? '≥' : 'BELOW'} the first oven's on All and luma`,
      `level ${level(r.npm.level)} ${r.npm.profile} (≤ 4.2, Main or High: ${levelOk ? 'met' : 'MISSED'})`,
      `npm run bake ${x(speed)} the first oven's wall (≤ 0.5×, aim 0.4×: ${speed <= 0.4 ? 'aim met' : speed <= 0.5 ? 'met' : 'MISSED'})`,
      `overhead ${f2(overhead)} s (≤ 0.6, aim 0.3: ${overhead <= 0.3 ? 'aim met' : overhead <= 0.6 ? 'met' : 'MISSED'})`,
    ];
    lines.push(`- ${r.tape.name}: ${verdicts.join('; ')}. The first oven's constant ${r.firstFps} fps puts frames up to ${r.firstDriftMs.toFixed(0)} ms off their recorded times.`);
  }
  return lines;
}

async function main(): Promise<void> {
  // What `npm run setup` leaves: a fresh dist/, which npm run bake runs (scripts/launch.mjs).
  const build = await run('npm', ['run', '--silent', 'build'], { cwd: REPO });
  if (build.code !== 0) throw new Error(`npm run build failed: ${build.stderr}`);
  const cli = path.join(REPO, 'dist/service/cli.js');
  const work = await mkdtemp(path.join(os.tmpdir(), 'oven-bench-'));
  const header = [
    `Run ${nowUtc()} on ${await describeMachine()}; load average at start ${loadAverage()}.`,
    `Every command ${hasTaskset ? `pinned to core ${BENCH_CORE} with \`taskset -c ${BENCH_CORE}\`` : 'unpinned (taskset missing)'}; ${hasTime ? 'times and peaks from `/usr/bin/time -v`' : 'no `/usr/bin/time`: CPU and peaks not measured'}.`,
    `Our x264 settings: \`-preset ${X264.preset} -tune ${X264.tune} -crf ${X264.crf} -x264-params ${X264.params}:rc-lookahead=<20, or 10 over 1 Mpx>:fps=<rate>/1\`.`,
    'Tapes: ' + BENCH_TAPES.map((t) => `**${t.name}** (${t.width}×${t.height}, ${t.seconds} s): ${t.about}`).join('; ') + '.',
  ];
  const all: TapeFigures[] = [];
  try {
    const only = process.env.BENCH_TAPES?.split(',').map((s) => s.trim());
    for (const tape of BENCH_TAPES) {
      if (only && !only.some((o) => tape.name.startsWith(o))) continue;
      all.push(await benchTape(tape, work, cli));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const lines = report(all, header);
  console.log(lines.join('\n'));
  // A partial run (some tapes, fewer rounds) is for trying things; only the whole run is recorded.
  if (!process.env.BENCH_TAPES && !process.env.BENCH_ROUNDS) await recordSection('bench', 'npm run bench', lines);
  else console.error('BENCH_TAPES or BENCH_ROUNDS set: bench/RESULTS.md left as it is');
}

await main();
