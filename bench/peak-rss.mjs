// Preloaded into the CLI by bench/bake.ts: on exit, append this process's own peak RSS (KiB)
// to the file named by OVEN_BENCH_RSS_FILE. Children (ffmpeg) are measured separately.
import { appendFileSync } from 'node:fs';

const file = process.env.OVEN_BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    appendFileSync(file, `${process.resourceUsage().maxRSS}\n`);
  });
}
