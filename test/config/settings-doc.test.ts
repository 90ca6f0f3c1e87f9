import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { settingsTable } from '../../service/config.ts';
import { ROOT } from '../helpers/oven.ts';

/** The document whose configuration table is printed from service/config.ts (`npx tsx service/config-table.ts`). */
export const CONFIGURATION_DOC = 'docs/operations.md';

test('the configuration table in the docs is the one service/config.ts prints, setting for setting', async () => {
  const doc = await readFile(path.join(ROOT, CONFIGURATION_DOC), 'utf8');
  const start = doc.indexOf('| name | default | meaning |');
  assert.ok(start >= 0, `${CONFIGURATION_DOC} has a configuration table`);
  const end = doc.indexOf('\n\n', start);
  assert.equal(doc.slice(start, end === -1 ? undefined : end).trim(), settingsTable(), `regenerate it with npx tsx service/config-table.ts`);
});
