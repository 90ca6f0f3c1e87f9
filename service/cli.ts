// Bake one tape with no server: `npm run bake -- <tape.zip | https URL> [--out DIR] [--slug SLUG] [--outputs webm,gif]`.
// Success: DIR/SLUG.mp4 and DIR/SLUG-thumb.jpg (and DIR/SLUG.webm, DIR/SLUG.gif when asked), and one line of JSON on stdout.
// Failure: exit 1 and one line `oven: <sentence> (<CODE>).` on stderr; bad arguments exit 2.
// An operator's tool: local paths and private networks are allowed, no URL guard.

import { copyFile, mkdir, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { toOvenError } from './errors.ts';
import { setLogSink } from './log.ts';
import { bakeLimitsFrom, bakeTape, withWorkDir, type ExtraOutput, type MadeOutput } from './bake/index.ts';
import { SLUG_PATTERN } from './jobs/job.ts';
import { EXTRA_OUTPUTS } from '../contract/index.ts';

const USAGE = 'usage: npm run bake -- <tape.zip | https URL> [--out DIR] [--slug SLUG] [--outputs webm,gif] [--verbose]';

class UsageError extends Error {}

interface Args {
  source: string;
  outDir: string;
  slug: string;
  outputs: ExtraOutput[];
  verbose: boolean;
}

/** The ZIP's file name without `.zip`, from a path or a URL. */
function slugFromSource(source: string): string {
  let name = source;
  if (/^https?:\/\//i.test(source)) {
    try {
      name = decodeURIComponent(new URL(source).pathname);
    } catch {
      // Not a URL after all; use it as written.
    }
  }
  return path.posix.basename(name.replace(/\\/g, '/')).replace(/\.zip$/i, '');
}

function parse(argv: string[]): Args {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: { out: { type: 'string' }, slug: { type: 'string' }, outputs: { type: 'string' }, verbose: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]);
  }
  if (parsed.values.help) throw new UsageError('');
  if (parsed.positionals.length !== 1) throw new UsageError(parsed.positionals.length ? 'Give exactly one tape.' : 'Give a tape ZIP or its URL.');
  const source = parsed.positionals[0]!;
  const slug = parsed.values.slug ?? slugFromSource(source);
  if (!SLUG_PATTERN.test(slug)) {
    throw new UsageError(`"${slug}" is not a usable slug (letters, digits, ".", "_", "-"; up to 128); pass --slug.`);
  }
  const outputs = (parsed.values.outputs ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  const unknown = outputs.find((o) => !(EXTRA_OUTPUTS as readonly string[]).includes(o));
  if (unknown !== undefined) throw new UsageError(`--outputs takes webm and gif (the MP4 and thumbnail are always made), not "${unknown}".`);
  return { source, outDir: path.resolve(parsed.values.out ?? './out'), slug, outputs: [...new Set(outputs as ExtraOutput[])], verbose: parsed.values.verbose ?? false };
}

/** rename, or copy and delete when the work folder is on another file system. */
async function move(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EXDEV') throw err;
    await copyFile(from, to);
    await unlink(from);
  }
}

function sentence(message: string, code: string): string {
  return `${message.replace(/[.\s]+$/, '')} (${code}).`;
}

async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parse(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    if (err.message) process.stderr.write(`oven: ${err.message}\n`);
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  // stdout carries the one summary line; logs go to stderr only when asked for.
  setLogSink(args.verbose ? (line) => process.stderr.write(line + '\n') : () => {});

  const started = performance.now();
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const config = loadConfig(process.env);
    const limits = bakeLimitsFrom(config);
    const summary = await withWorkDir(config.tempDir, args.slug, async (workDir) => {
      const result = await bakeTape({ source: args.source, slug: args.slug, workDir, limits, signal: abort.signal, outputs: args.outputs });
      await mkdir(args.outDir, { recursive: true });
      const mp4 = path.join(args.outDir, `${args.slug}.mp4`);
      await move(result.mp4Path, mp4);
      let thumbnail: string | null = null;
      if (result.thumbnailPath) {
        thumbnail = path.join(args.outDir, `${args.slug}-thumb.jpg`);
        await move(result.thumbnailPath, thumbnail);
      }
      const outputs: Partial<Record<ExtraOutput, string>> = {};
      for (const [output, made] of Object.entries(result.extras) as [ExtraOutput, MadeOutput][]) {
        outputs[output] = path.join(args.outDir, `${args.slug}.${output}`);
        await move(made.path, outputs[output]!);
      }
      return {
        slug: args.slug,
        mp4,
        thumbnail,
        ...(result.thumbnailError ? { thumbnailError: result.thumbnailError } : {}),
        ...(Object.keys(outputs).length ? { outputs } : {}),
        ...(result.warnings.length ? { warnings: result.warnings } : {}),
        ...(result.sizeBudget ? { sizeBudget: result.sizeBudget } : {}),
        durationMs: Math.round(result.durationMs * 1000) / 1000,
        frames: result.frames,
        width: result.width,
        height: result.height,
        bytes: result.bytes,
        ms: Math.round(performance.now() - started),
        // Where the time went, for anyone wondering why a bake is slow.
        stagesMs: Object.fromEntries(Object.entries(result.timings).map(([stage, ms]) => [stage.replace(/Ms$/, ''), Math.round(ms)])),
      };
    });
    process.stdout.write(JSON.stringify(summary) + '\n');
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`oven: ${err.message}\n`);
      return 2;
    }
    const e = toOvenError(err);
    process.stderr.write(`oven: ${sentence(e.message, e.code)}\n`);
    return abort.signal.aborted ? 130 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    // Nothing should get here; if it does, still one line and no stack.
    process.stderr.write(`oven: ${sentence(toOvenError(err).message, 'INTERNAL')}\n`);
    process.exitCode = 1;
  },
);
