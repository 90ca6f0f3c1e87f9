// Each benchmark writes its figures into its own marked section of bench/RESULTS.md, leaving the
// rest of the file (the hand-written notes, the other benchmarks' sections) as it is.

import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { REPO } from './compiled.ts';

const RESULTS = path.join(REPO, 'bench', 'RESULTS.md');

/** Replaces the section between `<!-- name:start … -->` and `<!-- name:end -->` (appending it the first time). */
export async function recordSection(name: string, command: string, lines: string[]): Promise<void> {
  const section = [`<!-- ${name}:start (written by ${command}) -->`, ...lines, `<!-- ${name}:end -->`].join('\n');
  const current = await readFile(RESULTS, 'utf8').catch(() => '# Benchmark results\n');
  const marked = new RegExp(`<!-- ${name}:start[^>]*-->[\\s\\S]*?<!-- ${name}:end -->`);
  await writeFile(RESULTS, marked.test(current) ? current.replace(marked, () => section) : `${current.trimEnd()}\n\n${section}\n`);
}
