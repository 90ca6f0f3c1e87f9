// The build's second half: files the compiled service reads at run time besides its JavaScript
// (the dashboard's script and styles), copied next to it.
//   node scripts/copy-assets.mjs [outDir]     (default dist)

import { cpSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.resolve(root, process.argv[2] ?? 'dist');
cpSync(path.join(root, 'service/http/dashboard'), path.join(outDir, 'service/http/dashboard'), { recursive: true });
