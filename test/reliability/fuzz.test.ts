// Fuzzing the tape reader: mutated timing.json / metadata.json through readTape, and mutated ZIP
// headers and central directories through extractTape (then readTape). Every outcome must be a
// success or an OvenError with a known code: never another exception, an unhandled rejection or a
// hang, and never a file outside the folder it was given.
// Each run draws a new seed and each test prints it as a diagnostic (`# seed 1255267971 …` in the
// test output, beside a failure too); FUZZ_SEED=1255267971 replays exactly that run, and
// FUZZ_ITERATIONS=<n> changes how many inputs each part tries (1000 by default).

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { readTape } from '../../service/bake/tape.ts';
import { extractTape } from '../../service/bake/unzip.ts';
import { ERROR_CODES, OvenError } from '../../service/errors.ts';
import { tinyPng } from '../helpers/hostile-zips.ts';
import { toneWav } from '../helpers/sample-tape.ts';
import { random } from '../helpers/tapes.ts';
import { buildZip } from '../helpers/zip.ts';

const SEED = wholeNumberFrom('FUZZ_SEED', 2 ** 32 - 1) ?? Math.floor(Math.random() * 2 ** 31);
const ITERATIONS = wholeNumberFrom('FUZZ_ITERATIONS', Number.MAX_SAFE_INTEGER) ?? 1000;
const SEED_NOTE = `seed ${SEED} (replay with FUZZ_SEED=${SEED}), ${ITERATIONS} iterations per part`;
/** A call slower than this counts as a hang (the honest ones take a few milliseconds). */
const HANG_MS = 5000;
const TAPE_LIMITS = { maxTapeSeconds: 120, maxFramePixels: 4 * 1024 * 1024 };
const UNZIP_LIMITS = { maxEntries: 20000, maxUnzippedBytes: 1024 * 1024 * 1024 };
const KNOWN_CODES = new Set<string>(ERROR_CODES);

/** A typo in a replayed seed would otherwise turn into seed 0 and replay some other run. */
function wholeNumberFrom(name: string, max: number): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > max) throw new Error(`${name} must be a whole number from 0 to ${max}, not ${JSON.stringify(text)}.`);
  return value;
}

/** Each iteration has its own stream, so one failing input replays alone from (seed, iteration). */
function rngFor(part: number, iteration: number): Rng {
  const next = random((SEED ^ Math.imul(part + 1, 0x9e3779b1) ^ Math.imul(iteration + 1, 0x85ebca6b)) >>> 0);
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!,
  };
}

interface Rng {
  next(): number;
  int(n: number): number;
  pick<T>(list: readonly T[]): T;
}

type Outcome = { kind: 'ok' } | { kind: 'refused'; code: string } | { kind: 'wrong'; what: string };

/** Runs fn against the hang limit and sorts what happened. */
async function outcomeOf(fn: () => Promise<unknown>): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'wrong', what: `no answer within ${HANG_MS} ms` }), HANG_MS);
  });
  const run = fn().then(
    (): Outcome => ({ kind: 'ok' }),
    (err: unknown): Outcome => {
      if (!(err instanceof OvenError)) return { kind: 'wrong', what: `threw ${(err as Error)?.name}: ${String((err as Error)?.message ?? err).slice(0, 200)}` };
      // INTERNAL is what an unforeseen failure becomes: for a bad input, that is a bug too.
      if (!KNOWN_CODES.has(err.code) || err.code === 'INTERNAL') return { kind: 'wrong', what: `code ${err.code}: ${err.message}` };
      return { kind: 'refused', code: err.code };
    },
  );
  try {
    return await Promise.race([run, hang]);
  } finally {
    clearTimeout(timer);
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => void unhandled.push(err);
let root: string;

before(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'oven-fuzz-'));
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});

after(async () => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  await rm(root, { recursive: true, force: true });
});

// ---- the honest tape the mutations start from ------------------------------------------------

const DURATIONS = [16.67, 250, 100.5, 33.3];
const frameName = (i: number) => `frame-${String(i).padStart(5, '0')}.png`;
const GOOD_TIMING = JSON.stringify(DURATIONS.map((duration, i) => ({ frame: i, filename: frameName(i), duration, timestamp: 1764000000000 + i * 17 })));
const GOOD_METADATA = JSON.stringify({
  resolution: { width: 16, height: 12 },
  frameCount: 4,
  totalDuration: 0.4,
  piece: 'wand',
  exportedAt: '2025-11-24T10:30:15.123Z',
  audioSampleRate: 48000,
  pieceChanges: [{ piece: 'wand', at: 0 }],
  slug: null,
});

function goodZip(): Buffer {
  return buildZip([
    ...DURATIONS.map((_, i) => ({ name: frameName(i), data: tinyPng(16, 12, [i * 60, 20, 200]) })),
    { name: 'timing.json', data: GOOD_TIMING },
    { name: 'metadata.json', data: GOOD_METADATA },
    { name: 'soundtrack.wav', data: toneWav(0.01, 8000), method: 'store' },
  ]);
}

// ---- JSON mutations ---------------------------------------------------------------------------

const ODD_VALUES = [
  '1e308', '1e400', '-1e400', '-0', '0', '1e-400', '9007199254740993', '-16.67', 'NaN', 'Infinity', 'null', 'true',
  '"16.67"', '""', '[]', '{}', '[16.67]', '{"duration":16.67}', '"../../../etc/passwd"', '"frame-99999999999.png"',
  '"frame-00001.png"', `"${'x'.repeat(5000)}"`, '"\\ud800"', '"\\u0000"', '"\u202e\u0301"', '1'.repeat(400),
];
const ODD_KEYS = ['"__proto__"', '"constructor"', '"prototype"', '"duration"', '"frame"', '"filename"', '""', '"\\u0000"'];

function mutateJson(text: string, rng: Rng): Buffer {
  let s = text;
  const at = () => rng.int(s.length + 1);
  switch (rng.int(9)) {
    case 0: {
      // Bit flips, on the bytes.
      const bytes = Buffer.from(s);
      for (let n = 1 + rng.int(4); n > 0; n--) {
        const i = rng.int(bytes.length);
        bytes[i] = bytes[i]! ^ (1 << rng.int(8));
      }
      return bytes;
    }
    case 1:
      return Buffer.from(s.slice(0, at()));
    case 2: {
      // Splice a piece of the other honest document in.
      const other = rng.next() < 0.5 ? GOOD_METADATA : GOOD_TIMING;
      const from = rng.int(other.length);
      const i = at();
      return Buffer.from(s.slice(0, i) + other.slice(from, from + 1 + rng.int(60)) + s.slice(i + rng.int(20)));
    }
    case 3: {
      // Swap one number for an odd value.
      const numbers = [...s.matchAll(/-?\d+(\.\d+)?(e-?\d+)?/g)];
      const m = numbers.length ? rng.pick(numbers) : undefined;
      if (!m) return Buffer.from(s);
      return Buffer.from(s.slice(0, m.index) + rng.pick(ODD_VALUES) + s.slice(m.index! + m[0].length));
    }
    case 4: {
      // Deep nesting, around the whole or in place of a value.
      const depth = rng.pick([10, 1000, 100_000]);
      const open = rng.next() < 0.5 ? '[' : '{"a":';
      const close = open === '[' ? ']' : '}';
      const nested = open.repeat(depth) + (rng.next() < 0.3 ? '' : '1') + close.repeat(depth);
      if (rng.next() < 0.5) return Buffer.from(nested);
      const colon = s.indexOf(':', at());
      return Buffer.from(colon < 0 ? nested : s.slice(0, colon + 1) + nested + s.slice(s.indexOf(',', colon) >>> 0));
    }
    case 5: {
      // Unicode: a BOM, odd characters, escapes of lone surrogates, or bytes that are not UTF-8.
      const bits = ['\uFEFF', '\u0000', '\u2028', '\ud83d\udc7e', 'é', '\\ud800', '\\u0000', '\\"'];
      const i = at();
      if (rng.next() < 0.3) return Buffer.concat([Buffer.from(s.slice(0, i)), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from(s.slice(i))]);
      return Buffer.from(s.slice(0, i) + rng.pick(bits) + s.slice(i));
    }
    case 6: {
      // Odd or repeated keys.
      const key = s.indexOf('"', at());
      if (key < 0) return Buffer.from(s);
      return Buffer.from(s.slice(0, key) + `${rng.pick(ODD_KEYS)}:${rng.pick(ODD_VALUES)},` + s.slice(key));
    }
    case 7: {
      // Structural: re-shape the parsed document (repeat, drop, swap items or values).
      try {
        const doc = JSON.parse(s) as unknown;
        if (Array.isArray(doc) && doc.length) {
          const copy = [...doc];
          const op = rng.int(4);
          if (op === 0) copy.push(...copy);
          else if (op === 1) copy.splice(rng.int(copy.length), 1);
          else if (op === 2) copy.reverse();
          else copy[rng.int(copy.length)] = JSON.parse(rng.pick(ODD_VALUES).replace(/^NaN$|^Infinity$/, 'null').replace(/^\d{400}$/, '1'));
          return Buffer.from(JSON.stringify(copy));
        }
        return Buffer.from(JSON.stringify(Array.isArray(doc) ? {} : [doc]));
      } catch {
        return Buffer.from(s);
      }
    }
    default: {
      // Several at once.
      s = mutateJson(s, rng).toString('latin1');
      return mutateJson(s, rng);
    }
  }
}

test('mutated timing.json and metadata.json: readTape answers with a typed error or a tape, never anything else', { timeout: 120_000 }, async (t) => {
  t.diagnostic(SEED_NOTE);
  const dir = path.join(root, 'json');
  const tape = await extractTape(await writeTo(path.join(root, 'json-good.zip'), goodZip()), dir, UNZIP_LIMITS);
  assert.ok(tape.timingPath && tape.metadataPath);
  // The honest tape reads; every mutation below starts from it.
  assert.equal((await readTape(tape, TAPE_LIMITS)).frames.length, 4);

  const codes = new Map<string, number>();
  const wrong: string[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const rng = rngFor(0, i);
    const timing = rng.next() < 0.8 ? mutateJson(GOOD_TIMING, rng) : Buffer.from(GOOD_TIMING);
    const metadata = rng.next() < 0.5 ? mutateJson(GOOD_METADATA, rng) : Buffer.from(GOOD_METADATA);
    await writeFile(tape.timingPath, timing);
    await writeFile(tape.metadataPath, metadata);
    const outcome = await outcomeOf(() => readTape(tape, TAPE_LIMITS));
    const key = outcome.kind === 'ok' ? 'ok' : outcome.kind === 'refused' ? outcome.code : 'WRONG';
    codes.set(key, (codes.get(key) ?? 0) + 1);
    if (outcome.kind === 'wrong') wrong.push(`seed ${SEED} iteration ${i}: ${outcome.what}; timing ${JSON.stringify(timing.toString('latin1').slice(0, 120))}`);
  }
  t.diagnostic(`json: ${ITERATIONS} inputs → ${[...codes].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
  assert.deepEqual(wrong, []);
  assert.deepEqual(unhandled, []);
  assert.ok((codes.get('TAPE_BAD_TIMING') ?? 0) > 0 && (codes.get('ok') ?? 0) > 0, 'the mutations reach both outcomes');
});

// ---- ZIP mutations ------------------------------------------------------------------------------

interface ZipMap {
  locals: number[];
  centrals: number[];
  end: number;
}

/** Where the headers are, by their signatures (the honest ZIP has no comment or extra fields). */
function mapZip(zip: Buffer): ZipMap {
  const find = (sig: number) => {
    const at: number[] = [];
    for (let i = 0; i + 4 <= zip.length; i++) if (zip.readUInt32LE(i) === sig) at.push(i);
    return at;
  };
  return { locals: find(0x04034b50), centrals: find(0x02014b50), end: find(0x06054b50).at(-1)! };
}

/** Length and count fields: [offset in its record, size in bytes]. */
type Fields = readonly (readonly [number, 2 | 4])[];
const LOCAL_FIELDS: Fields = [[6, 2], [8, 2], [14, 4], [18, 4], [22, 4], [26, 2], [28, 2]];
const CENTRAL_FIELDS: Fields = [[8, 2], [10, 2], [20, 4], [24, 4], [28, 2], [30, 2], [32, 2], [38, 4], [42, 4]];
const END_FIELDS: Fields = [[4, 2], [6, 2], [8, 2], [10, 2], [12, 4], [16, 4], [20, 2]];

function writeField(zip: Buffer, at: number, size: 2 | 4, value: number): void {
  if (at + size > zip.length) return;
  if (size === 2) zip.writeUInt16LE(value & 0xffff, at);
  else zip.writeUInt32LE(value >>> 0, at);
}

function mutateZip(good: Buffer, map: ZipMap, rng: Rng): Buffer {
  let zip = Buffer.from(good);
  const flip = (from: number, to: number) => {
    for (let n = 1 + rng.int(6); n > 0; n--) {
      const i = from + rng.int(Math.max(1, to - from));
      if (i < zip.length) zip[i] = zip[i]! ^ (1 + rng.int(255));
    }
  };
  const steps = 1 + rng.int(3);
  for (let s = 0; s < steps; s++) {
    switch (rng.int(7)) {
      case 0:
        flip(Math.max(0, zip.length - 200), zip.length); // the central directory's tail and the end record
        break;
      case 1: {
        const local = rng.pick(map.locals);
        flip(local, local + 30);
        break;
      }
      case 2: {
        const central = rng.pick(map.centrals);
        flip(central, central + 46);
        break;
      }
      case 3: {
        // A length or count field set to something huge, zero, or just off by a little.
        const [records, fields] = rng.pick<[number[], Fields]>([
          [map.locals, LOCAL_FIELDS],
          [map.centrals, CENTRAL_FIELDS],
          [[map.end], END_FIELDS],
        ]);
        const [offset, size] = rng.pick(fields);
        const base = rng.pick(records);
        if (base + offset + size > zip.length) break; // cut off by an earlier step
        const max = size === 2 ? 0xffff : 0xffffffff;
        const current = size === 2 ? zip.readUInt16LE(base + offset) : zip.readUInt32LE(base + offset);
        writeField(zip, base + offset, size, rng.pick([max, max - 1, 0, current + 1, current - 1, Math.floor(max / 2) + 1, rng.int(max)]));
        break;
      }
      case 4:
        zip = zip.subarray(0, rng.int(zip.length)); // truncated
        break;
      case 5: {
        // A run of bytes copied over another place (headers pasted where data was, and so on).
        const from = rng.int(zip.length);
        const len = 1 + rng.int(64);
        zip.copy(zip, rng.int(zip.length), from, Math.min(zip.length, from + len));
        break;
      }
      default: {
        // Garbage appended or prepended: the end record is no longer where it was.
        const junk = Buffer.from(Array.from({ length: 1 + rng.int(300) }, () => rng.int(256)));
        zip = rng.next() < 0.5 ? Buffer.concat([zip, junk]) : Buffer.concat([junk, zip]);
      }
    }
  }
  return zip;
}

async function writeTo(file: string, data: Buffer): Promise<string> {
  await writeFile(file, data);
  return file;
}

test('mutated ZIP headers and central directories: extractTape (then readTape) answers with a typed error or a tape', { timeout: 120_000 }, async (t) => {
  t.diagnostic(SEED_NOTE);
  const good = goodZip();
  const map = mapZip(good);
  assert.equal(map.locals.length, 7);
  assert.equal(map.centrals.length, 7);

  const codes = new Map<string, number>();
  const wrong: string[] = [];
  const zipRoot = path.join(root, 'zip');
  await mkdir(zipRoot);
  for (let i = 0; i < ITERATIONS; i++) {
    const rng = rngFor(1, i);
    const zip = mutateZip(good, map, rng);
    const work = path.join(zipRoot, String(i));
    await mkdir(work);
    const zipPath = await writeTo(path.join(work, 'in.zip'), zip);
    const dest = path.join(work, 'out');
    const outcome = await outcomeOf(async () => readTape(await extractTape(zipPath, dest, UNZIP_LIMITS), TAPE_LIMITS));
    const key = outcome.kind === 'ok' ? 'ok' : outcome.kind === 'refused' ? outcome.code : 'WRONG';
    codes.set(key, (codes.get(key) ?? 0) + 1);
    const where = `seed ${SEED} iteration ${i}`;
    if (outcome.kind === 'wrong') wrong.push(`${where}: ${outcome.what}`);
    // Only the ZIP and the folder it was given; nothing beside them, nothing above.
    const left = (await readdir(work)).sort();
    if (!left.every((n) => n === 'in.zip' || n === 'out')) wrong.push(`${where}: wrote ${left.join(', ')} beside the destination`);
    await rm(work, { recursive: true, force: true });
  }
  const strays = await readdir(zipRoot);
  assert.deepEqual(strays, [], 'nothing written above the per-input folders');
  assert.deepEqual((await readdir(root)).sort(), ['json', 'json-good.zip', 'zip']);
  t.diagnostic(`zip: ${ITERATIONS} inputs → ${[...codes].sort().map(([k, v]) => `${k} ${v}`).join(', ')}`);
  assert.deepEqual(wrong, []);
  assert.deepEqual(unhandled, []);
  assert.ok((codes.get('ZIP_INVALID') ?? 0) > 0 && (codes.get('ok') ?? 0) > 0, 'the mutations reach both outcomes');
});
