// Unpacks a tape ZIP safely. Pass 1 reads only the central directory and refuses the whole ZIP on
// anything unsafe, before a byte is written. Pass 2 writes just the tape's own entries, under names
// we choose, counting the bytes that really inflate (headers can lie). Entry names never become
// paths: nothing is written outside destDir, and no folder is made from an entry's name.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { mkdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { OvenError, toOvenError } from '../errors.ts';

export interface UnzipLimits {
  /** Most entries (files and folders) one ZIP may hold. */
  maxEntries: number;
  /** Most bytes all entries together may inflate to (by their headers, and as really inflated). */
  maxUnzippedBytes: number;
  /** Most bytes one entry may inflate to. Default DEFAULT_MAX_ENTRY_BYTES (256 MiB). */
  maxEntryBytes?: number;
  /** Highest uncompressed:compressed ratio of an entry over RATIO_CHECK_MIN_BYTES. Default DEFAULT_MAX_RATIO (100). */
  maxRatio?: number;
  /** Stops the unpacking between and inside entries. */
  signal?: AbortSignal;
}

export interface ExtractedTape {
  dir: string;
  /** Sorted by index; `path` is absolute, under dir, named f000000.png, f000001.png, … in that order. */
  frames: { index: number; path: string; originalName: string }[];
  timingPath?: string;
  metadataPath?: string;
  soundtrackPath?: string;
}

const MiB = 1024 * 1024;
/** A 120 s, 48 kHz stereo 16-bit soundtrack is 23 MiB; no single tape file needs more than this. */
export const DEFAULT_MAX_ENTRY_BYTES = 256 * MiB;
/**
 * PNG frames and WAV sound barely compress (1–3×), timing.json about 10–30×; deflate tops out near
 * 1030×, which is what a bomb of zeros reaches. 100 leaves room for honest files and refuses bombs.
 */
export const DEFAULT_MAX_RATIO = 100;
/** Small entries may compress as well as they like: they cannot hurt. */
export const RATIO_CHECK_MIN_BYTES = 1 * MiB;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const DOS_DIRECTORY = 0x10;

type Role = { kind: 'frame'; index: number } | { kind: 'timing' } | { kind: 'metadata' } | { kind: 'soundtrack' };

type Caps = Required<Omit<UnzipLimits, 'signal'>>;

interface FileEntry {
  entry: yauzl.Entry;
  /** The entry's name with `.` and empty segments dropped. */
  segments: string[];
}

interface Planned {
  entry: yauzl.Entry;
  role: Role;
  originalName: string;
}

export async function extractTape(zipPath: string, destDir: string, limits: UnzipLimits): Promise<ExtractedTape> {
  const caps = {
    maxEntries: limits.maxEntries,
    maxUnzippedBytes: limits.maxUnzippedBytes,
    maxEntryBytes: limits.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES,
    maxRatio: limits.maxRatio ?? DEFAULT_MAX_RATIO,
  };
  let zipfile: yauzl.ZipFile;
  try {
    // decodeStrings: false so unsafe names reach our checks (and get their own code) instead of
    // a generic yauzl error; we decode them with yauzl's own function, strictly (backslashes kept).
    zipfile = await yauzl.openPromise(zipPath, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: false,
      validateEntrySizes: true,
    });
  } catch (err) {
    throw zipReadError(err);
  }
  try {
    const files = await surveyEntries(zipfile, caps, limits.signal);
    const plan = planTape(files);
    for (const { entry, originalName } of plan) checkReadable(zipfile, entry, originalName);
    await mkdir(destDir, { recursive: true });
    return await writeTape(zipfile, plan, path.resolve(destDir), caps, limits.signal);
  } catch (err) {
    throw zipReadError(err);
  } finally {
    zipfile.close();
  }
}

/** Pass 1: every entry's name, kind, flags and declared sizes; throws on the first unsafe one. */
async function surveyEntries(zipfile: yauzl.ZipFile, caps: Caps, signal?: AbortSignal): Promise<FileEntry[]> {
  if (zipfile.entryCount === 0) throw new OvenError('ZIP_EMPTY', 'The ZIP holds no files.');
  if (zipfile.entryCount > caps.maxEntries) {
    throw new OvenError('ZIP_TOO_MANY_ENTRIES', `The ZIP holds ${zipfile.entryCount} entries; at most ${caps.maxEntries} are accepted.`);
  }
  const seen = new Set<string>();
  const files: FileEntry[] = [];
  let declaredTotal = 0;
  for await (const entry of zipfile.eachEntry()) {
    signal?.throwIfAborted();
    const name = safeEntryName(entry);
    const isDirectory = entryIsDirectory(entry, name);
    if (entry.isEncrypted()) throw new OvenError('ZIP_ENCRYPTED', `The ZIP entry ${shown(name)} is encrypted; tapes must not be.`);
    const segments = name.split('/').filter((s) => s !== '' && s !== '.');
    // Case-folded, because on a case-insensitive disk (or to a person) A.png and a.png are one file.
    const key = segments.join('/').normalize('NFKC').toLowerCase();
    if (seen.has(key)) throw new OvenError('ZIP_DUPLICATE_ENTRY', `The ZIP holds ${shown(name)} more than once (names are compared ignoring case).`);
    seen.add(key);
    declaredTotal += entry.uncompressedSize;
    if (declaredTotal > caps.maxUnzippedBytes) {
      throw new OvenError('ZIP_BOMB', `The ZIP would unpack to more than ${caps.maxUnzippedBytes} bytes, the limit.`);
    }
    if (isDirectory) continue;
    checkDeclaredSize(entry, name, segments, caps);
    files.push({ entry, segments });
  }
  if (files.length === 0) throw new OvenError('ZIP_EMPTY', 'The ZIP holds only folders, no files.');
  return files;
}

/** The name as other tools show it, refused if it (or the raw header name) could point outside a folder. */
function safeEntryName(entry: yauzl.Entry): string {
  const headerName = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, [], true);
  const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, true);
  for (const candidate of new Set([headerName, name])) {
    const why = unsafeNameReason(candidate);
    if (why) throw new OvenError('ZIP_UNSAFE_PATH', `The ZIP entry ${shown(candidate)} ${why}; the whole ZIP was refused.`);
  }
  return name;
}

function unsafeNameReason(name: string): string | undefined {
  if (name === '') return 'has no name';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'has control characters in its name';
  if (name.includes('\\')) return 'has a backslash in its name';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'is an absolute path';
  if (name.split('/').includes('..')) return 'climbs out of its folder with ".."';
  return undefined;
}

/** Symlinks and device files are refused by the Unix mode in the external attributes. */
function entryIsDirectory(entry: yauzl.Entry, name: string): boolean {
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (type === S_IFLNK) throw new OvenError('ZIP_SYMLINK', `The ZIP entry ${shown(name)} is a symbolic link; tapes hold only plain files.`);
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR) {
    throw new OvenError('ZIP_SPECIAL_FILE', `The ZIP entry ${shown(name)} is a special file (device, pipe or socket); tapes hold only plain files.`);
  }
  return name.endsWith('/') || type === S_IFDIR || (entry.externalFileAttributes & DOS_DIRECTORY) !== 0;
}

function checkDeclaredSize(entry: yauzl.Entry, name: string, segments: string[], caps: Caps): void {
  if (entry.uncompressedSize > caps.maxEntryBytes) {
    throw new OvenError('ZIP_BOMB', `The ZIP entry ${shown(name)} would unpack to ${entry.uncompressedSize} bytes; one entry may have at most ${caps.maxEntryBytes}.`);
  }
  // Silence compresses like a bomb does, so the soundtrack is bounded by size alone.
  if (segments.at(-1)?.toLowerCase() === 'soundtrack.wav') return;
  const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
  if (entry.uncompressedSize > RATIO_CHECK_MIN_BYTES && ratio > caps.maxRatio) {
    throw new OvenError('ZIP_BOMB', `The ZIP entry ${shown(name)} is compressed ${Math.round(ratio)}:1, more than the ${caps.maxRatio}:1 a real tape file reaches; it looks like a ZIP bomb.`);
  }
}

function roleOf(baseName: string): Role | undefined {
  const lower = baseName.toLowerCase();
  // frame-00000.png today; frame000000.png in older tapes.
  const frame = /^frame-?(\d{1,9})\.png$/.exec(lower);
  if (frame) return { kind: 'frame', index: Number(frame[1]) };
  if (lower === 'timing.json') return { kind: 'timing' };
  if (lower === 'metadata.json') return { kind: 'metadata' };
  if (lower === 'soundtrack.wav') return { kind: 'soundtrack' };
  return undefined;
}

/**
 * Picks the tape's entries: at the top of the ZIP, or else inside one top-level folder (a tape
 * zipped by hand from its folder). Everything else (__MACOSX/, .DS_Store, notes) is left unread.
 */
function planTape(files: FileEntry[]): Planned[] {
  const byFolder = new Map<string, Planned[]>();
  for (const { entry, segments } of files) {
    if (segments.length > 2 || (segments.length === 2 && segments[0] === '__MACOSX')) continue;
    const role = roleOf(segments.at(-1)!);
    if (!role) continue;
    const folder = segments.length === 2 ? segments[0]! : '';
    const list = byFolder.get(folder) ?? [];
    list.push({ entry, role, originalName: segments.join('/') });
    byFolder.set(folder, list);
  }
  const hasFrames = (folder: string) => byFolder.get(folder)?.some((p) => p.role.kind === 'frame') ?? false;
  let folder = '';
  if (!hasFrames('')) {
    const withFrames = [...byFolder.keys()].filter(hasFrames);
    if (withFrames.length > 1) {
      throw new OvenError('ZIP_INVALID', `The ZIP holds frames in more than one folder (${withFrames.slice(0, 3).map((f) => f + '/').join(', ')}); put one tape in each ZIP.`);
    }
    folder = withFrames[0] ?? '';
  }
  const chosen = byFolder.get(folder) ?? [];
  const frameNames = new Map<number, string>();
  for (const p of chosen) {
    if (p.role.kind !== 'frame') continue;
    const earlier = frameNames.get(p.role.index);
    if (earlier !== undefined) {
      throw new OvenError('ZIP_DUPLICATE_ENTRY', `The ZIP holds frame ${p.role.index} twice (${shown(earlier)} and ${shown(p.originalName)}).`);
    }
    frameNames.set(p.role.index, p.originalName);
  }
  return chosen;
}

/** Still pass 1: each entry to be written can be inflated and lies inside the file. */
function checkReadable(zipfile: yauzl.ZipFile, entry: yauzl.Entry, name: string): void {
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw new OvenError('ZIP_INVALID', `The ZIP entry ${shown(name)} uses compression method ${entry.compressionMethod}; only stored and deflated entries can be read.`);
  }
  const localHeaderBytes = 30;
  if (entry.relativeOffsetOfLocalHeader + localHeaderBytes + entry.compressedSize > zipfile.fileSize) {
    throw new OvenError('ZIP_INVALID', `The ZIP entry ${shown(name)} runs past the end of the file; the ZIP is truncated.`);
  }
}

/** Pass 2: write the planned entries under generated names, counting real bytes. */
async function writeTape(zipfile: yauzl.ZipFile, plan: Planned[], dir: string, caps: Caps, signal?: AbortSignal): Promise<ExtractedTape> {
  const frames = plan
    .flatMap((p) => (p.role.kind === 'frame' ? [{ planned: p, index: p.role.index }] : []))
    .sort((a, b) => a.index - b.index);
  const result: ExtractedTape = { dir, frames: [] };
  const jobs: { entry: yauzl.Entry; target: string; name: string }[] = [];
  frames.forEach(({ planned, index }, position) => {
    const target = path.join(dir, `f${String(position).padStart(6, '0')}.png`);
    result.frames.push({ index, path: target, originalName: planned.originalName });
    jobs.push({ entry: planned.entry, target, name: planned.originalName });
  });
  for (const p of plan) {
    if (p.role.kind === 'frame') continue;
    const target = path.join(dir, { timing: 'timing.json', metadata: 'metadata.json', soundtrack: 'soundtrack.wav' }[p.role.kind]);
    if (p.role.kind === 'timing') result.timingPath = target;
    if (p.role.kind === 'metadata') result.metadataPath = target;
    if (p.role.kind === 'soundtrack') result.soundtrackPath = target;
    jobs.push({ entry: p.entry, target, name: p.originalName });
  }

  const written: string[] = [];
  const budget = { inflated: 0 };
  try {
    for (const job of jobs) await writeEntry(zipfile, job, budget, caps, written, signal);
  } catch (err) {
    await Promise.all(written.map((file) => unlink(file).catch(() => undefined)));
    throw err;
  }
  return result;
}

async function writeEntry(
  zipfile: yauzl.ZipFile,
  job: { entry: yauzl.Entry; target: string; name: string },
  budget: { inflated: number },
  caps: Caps,
  written: string[],
  signal?: AbortSignal,
): Promise<void> {
  const entryCap = Math.min(job.entry.uncompressedSize, caps.maxEntryBytes);
  const lying = () => new OvenError('ZIP_BOMB', `The ZIP entry ${shown(job.name)} inflates to more than the ${job.entry.uncompressedSize} bytes its header says; the ZIP lies about its sizes.`);
  let entryBytes = 0;
  // yauzl already stops an entry at its declared size; this also holds the caps if that ever changes.
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      entryBytes += chunk.length;
      budget.inflated += chunk.length;
      if (entryBytes > entryCap) return done(lying());
      if (budget.inflated > caps.maxUnzippedBytes) {
        return done(new OvenError('ZIP_BOMB', `The ZIP unpacks to more than ${caps.maxUnzippedBytes} bytes, the limit.`));
      }
      done(null, chunk);
    },
  });
  const source = await zipfile.openReadStreamPromise(job.entry);
  // 'wx': never follow or overwrite anything already there.
  const sink = createWriteStream(job.target, { flags: 'wx' });
  sink.once('open', () => written.push(job.target));
  try {
    await pipeline(source, counter, sink, signal ? { signal } : {});
  } catch (err) {
    // A bad entry can fail the pipeline before the file has even opened; wait until it has opened
    // and closed again, so the caller's clean-up sees (and removes) it.
    if (!sink.closed) await once(sink, 'close').catch(() => undefined);
    throw err instanceof Error && err.message.startsWith('too many bytes in the stream') ? lying() : err;
  }
}

/** yauzl and zlib errors say the ZIP is bad; file-system errors keep their own meaning. */
function zipReadError(err: unknown): OvenError {
  if (err instanceof OvenError) return err;
  if (typeof (err as { syscall?: unknown } | null)?.syscall === 'string') return toOvenError(err);
  const reason = err instanceof Error ? err.message : String(err);
  if (reason.includes('strong encryption')) return new OvenError('ZIP_ENCRYPTED', 'The ZIP uses strong encryption; tapes must not be encrypted.', { cause: err });
  return new OvenError('ZIP_INVALID', `The file is not a readable ZIP (${reason.slice(0, 200)}).`, { cause: err });
}

/** An entry name as quoted in a message: escaped, and cut short if long. */
function shown(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 120 ? quoted.slice(0, 117) + '…"' : quoted;
}
