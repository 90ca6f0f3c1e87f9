// Writes a sample tape to try Oven with when no aesthetic.computer tape is at hand: 4 s of busy
// 160×120 pixel art at about 60 fps with a few stalls, a timing.json and a soundtrack, packed as AC
// packs them. The tests and benchmarks make their tapes with the same code.
//   npm run sample-tape -- /tmp/tapes/tape.zip

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hitchyDurations, makeTapeZip } from '../test/helpers/tapes.ts';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: npm run sample-tape -- <file.zip>\n');
  process.exit(2);
}
const durationsMs = hitchyDurations(4);
const zip = await makeTapeZip({ width: 160, height: 120, durationsMs, busy: true, soundSeconds: 4.085 });
await mkdir(path.dirname(path.resolve(out)), { recursive: true });
await writeFile(out, zip);
process.stdout.write(`${out}: ${durationsMs.length} frames, ${(zip.length / 1024).toFixed(0)} KiB\n`);
