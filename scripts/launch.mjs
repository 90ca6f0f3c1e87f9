// Runs one of Oven's entry points (`main`: the service, `cli`: bake one tape) as compiled JavaScript
// when `npm run build` has left a copy in dist/ that is newer than every source file, else straight
// from the TypeScript through tsx. The compiled copy starts in ~0.1 s; tsx compiles ~60 modules first
// (~0.4 s on one vCPU, more for each bake process the service starts).
//   node scripts/launch.mjs cli tape.zip --out DIR

import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = process.argv[2];
if (entry !== 'main' && entry !== 'cli') {
  process.stderr.write('usage: node scripts/launch.mjs main|cli [arguments]\n');
  process.exit(2);
}
// The entry point reads its own arguments from process.argv.slice(2).
process.argv.splice(2, 1);

/** Newest modification time of the TypeScript the build is made from. */
function newestSource() {
  let newest = 0;
  for (const folder of ['service', 'client']) {
    for (const name of readdirSync(path.join(root, folder), { recursive: true })) {
      if (String(name).endsWith('.ts')) newest = Math.max(newest, statSync(path.join(root, folder, String(name))).mtimeMs);
    }
  }
  return newest;
}

function freshBuild(file) {
  try {
    return statSync(file).mtimeMs >= newestSource();
  } catch {
    return false;
  }
}

const built = path.join(root, 'dist', 'service', `${entry}.js`);
if (freshBuild(built)) {
  await import(pathToFileURL(built).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(path.join(root, 'service', `${entry}.ts`)).href);
}
