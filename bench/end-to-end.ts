// `npm run bench:e2e`: how long an 8 s tape takes through the whole service — POST /bake accepted
// to the signed callback received — next to the bare bake of the same ZIP by the CLI.
// Real process, ZIP host and callback receiver on loopback; local storage. Rewrites its section
// of bench/RESULTS.md.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { post, ROOT, startOven, TEST_SECRET, until } from '../test/helpers/oven.ts';
import { startReceiver } from '../test/helpers/receiver.ts';
import { hitchyDurations, makeTapeZip } from '../test/helpers/tapes.ts';
import { startZipHost } from '../test/helpers/zip-host.ts';

const RUNS = 3;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function cliBake(zip: string, out: string): Promise<number> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'service/cli.ts', zip, '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve(performance.now() - started) : reject(new Error(`cli exited ${code}`))));
  });
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(os.tmpdir(), 'oven-e2e-'));
  const host = await startZipHost();
  const receiver = await startReceiver();
  const oven = await startOven({ env: { LOG_LEVEL: 'info' } });
  try {
    const durations = hitchyDurations(8, 150);
    const zip = await makeTapeZip({ width: 320, height: 240, durationsMs: durations, busy: true, soundSeconds: 8.085 });
    const zipPath = path.join(work, 'tape-8s.zip');
    await writeFile(zipPath, zip);

    const endToEnd: number[] = [];
    const stages: Record<string, number>[] = [];
    for (let i = 0; i < RUNS; i++) {
      const slug = `e2e-${i}`;
      const url = host.put(`${slug}.zip`, zip);
      const seen = receiver.requests.length;
      const started = performance.now();
      const r = await post(`${oven.url}/bake`, { mongoId: slug, slug, zipUrl: url, callbackUrl: `${receiver.url}/cb`, callbackSecret: TEST_SECRET });
      if (r.status !== 202) throw new Error(`POST /bake answered ${r.status}: ${r.text}`);
      await receiver.waitFor(seen + 1, 120_000);
      endToEnd.push(performance.now() - started);
      const status = await until(async () => {
        const s = await (await fetch(`${oven.url}/status/${r.json.jobId}`)).json();
        return s.status === 'done' ? s : undefined;
      });
      stages.push(status.stageMs);
    }
    const bare: number[] = [];
    for (let i = 0; i < RUNS; i++) bare.push(await cliBake(zipPath, path.join(work, 'out')));

    const stageMedian = (name: string) => median(stages.map((s) => s[name] ?? 0));
    const lines = [
      `Run ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, Node ${process.version}; median of ${RUNS}; not pinned: both cores of this machine (the default droplet has one vCPU, so expect about twice the encoding time there).`,
      '',
      `| 8 s 320×240 busy tape, ${durations.length} frames, ${(zip.length / 1e6).toFixed(1)} MB ZIP | ms |`,
      '| --- | ---: |',
      `| POST /bake accepted → callback received (local storage) | ${Math.round(median(endToEnd))} |`,
      `| … of which downloading / extracting / encoding / uploading | ${['downloading', 'extracting', 'encoding', 'uploading'].map((s) => Math.round(stageMedian(s))).join(' / ')} |`,
      `| bare bake of the same ZIP by the CLI (process start included) | ${Math.round(median(bare))} |`,
    ];
    const section = ['<!-- e2e:start (written by npm run bench:e2e) -->', '## End to end', '', ...lines, '<!-- e2e:end -->'].join('\n');
    console.log(lines.join('\n'));

    const resultsPath = path.join(ROOT, 'bench', 'RESULTS.md');
    const results = await readFile(resultsPath, 'utf8');
    const marked = /<!-- e2e:start[\s\S]*?<!-- e2e:end -->/;
    await writeFile(resultsPath, marked.test(results) ? results.replace(marked, section) : `${results.trimEnd()}\n\n${section}\n`);
  } finally {
    await oven.cleanup();
    await host.close();
    await receiver.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
