// The benchmarks measure what production runs: the compiled JavaScript, built fresh from this
// checkout into bench/work/dist (inside the repository so node_modules resolve; git ignores it).

import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(REPO, 'bench/work/dist');

/** Builds once per benchmark run; returns the compiled entry points. */
export function buildCompiled(): { cli: string; main: string } {
  rmSync(OUT, { recursive: true, force: true });
  // tsc emits even when a file elsewhere has a type error; the entry points are what matter.
  spawnSync(path.join(REPO, 'node_modules/.bin/tsc'), ['-p', path.join(REPO, 'tsconfig.build.json'), '--outDir', OUT, '--sourceMap', 'false'], { cwd: REPO, stdio: 'ignore' });
  spawnSync(process.execPath, [path.join(REPO, 'scripts/copy-assets.mjs'), OUT], { cwd: REPO, stdio: 'ignore' });
  const cli = path.join(OUT, 'service/cli.js');
  const main = path.join(OUT, 'service/main.js');
  if (!existsSync(cli) || !existsSync(main)) throw new Error('the build made no service/cli.js or service/main.js');
  return { cli, main };
}

export function removeCompiled(): void {
  rmSync(path.join(REPO, 'bench/work'), { recursive: true, force: true });
}
