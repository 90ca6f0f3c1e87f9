// A ZIP read safely, whatever it holds. Opening it reads only the central directory and refuses the
// whole ZIP on anything unsafe before a byte is inflated: names that could climb out of a folder,
// links and device files, encryption, duplicates, declared sizes past the caps or compressed like a
// bomb. Reading an entry then counts the bytes that really inflate (headers can lie) against the
// entry's declared size and the ZIP's budget. It knows nothing of tapes (unzip.ts does).

import { closeSync, createWriteStream, openSync, readSync } from 'node:fs';
import { once } from 'node:events';
import { inflateRawSync } from 'node:zlib';
import { pipeline as pipelineStreams, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { OvenError, toOvenError } from '../errors.ts';

export interface ZipLimits {
  /** Most entries (files and folders) one ZIP may hold. */
  maxEntries: number;
  /** Most bytes all entries together may inflate to (by their headers, and as really inflated). */
  maxUnzippedBytes: number;
  /** Most bytes one entry may inflate to. Default DEFAULT_MAX_ENTRY_BYTES (256 MiB). */
  maxEntryBytes?: number;
  /** Highest uncompressed:compressed ratio of an entry over RATIO_CHECK_MIN_BYTES. Default DEFAULT_MAX_RATIO (100). */
  maxRatio?: number;
  /** Stops the survey and the reading. */
  signal?: AbortSignal;
}

export interface ZipEntryFile {
  /** The entry's name as other tools show it (checked safe; never used as a path). */
  name: string;
  /** The name's segments, `.` and empty ones dropped. */
  segments: string[];
  /** Bytes it says it inflates to. */
  size: number;
  entry: yauzl.Entry;
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
/** General-purpose flag bits: 0 encrypted, 6 strong encryption. */
const ENCRYPTED_BITS = 0x41;

type Caps = Required<Omit<ZipLimits, 'signal'>>;

export class SafeZip {
  private inflated = 0;

  private constructor(
    private readonly zipfile: yauzl.ZipFile,
    /** Our own descriptor for read(): positioned reads of whole entries. */
    private readonly fd: number,
    /** Every plain file in the ZIP, in central-directory order, each already checked. */
    readonly files: ZipEntryFile[],
    private readonly caps: Caps,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /**
   * Opens and surveys the ZIP; throws an OvenError on the first unsafe entry. `mayCompressLikeABomb`
   * names entries bounded by size alone (silence compresses like a bomb does).
   */
  static async open(zipPath: string, limits: ZipLimits, mayCompressLikeABomb: (segments: string[]) => boolean = () => false): Promise<SafeZip> {
    const caps: Caps = {
      maxEntries: limits.maxEntries,
      maxUnzippedBytes: limits.maxUnzippedBytes,
      maxEntryBytes: limits.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES,
      maxRatio: limits.maxRatio ?? DEFAULT_MAX_RATIO,
    };
    let zipfile: yauzl.ZipFile;
    try {
      // decodeStrings: false so unsafe names reach our checks (and get their own code) instead of a
      // generic yauzl error; we decode them with yauzl's own function, strictly (backslashes kept).
      // Entry sizes are checked by our own count as they inflate (see stream()).
      zipfile = await yauzl.openPromise(zipPath, { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: false });
    } catch (err) {
      throw zipReadError(err);
    }
    let fd: number | undefined;
    try {
      const files = await survey(zipfile, caps, limits.signal, mayCompressLikeABomb);
      fd = openSync(zipPath, 'r');
      return new SafeZip(zipfile, fd, files, caps, limits.signal);
    } catch (err) {
      zipfile.close();
      if (fd !== undefined) closeSync(fd);
      throw zipReadError(err);
    }
  }

  /**
   * The whole entry, in memory: for files that are checked before they are written (the frames).
   * One positioned read and at most one inflate each: yauzl's streams cost about a millisecond an
   * entry in set-up and thread-pool round trips, a third of a second on a 240-frame tape. The bake
   * runs in a process of its own, so these synchronous reads hold up nothing else.
   */
  read(file: ZipEntryFile): Buffer {
    this.signal?.throwIfAborted();
    checkReadable(this.zipfile, file);
    const { entry, size: declared } = file;
    const local = this.bytesAt(entry.relativeOffsetOfLocalHeader, LOCAL_HEADER_BYTES, file);
    if (local.readUInt32LE(0) !== LOCAL_HEADER_SIGNATURE) {
      throw new OvenError('ZIP_INVALID', `The ZIP entry ${shown(file.name)} has no local header where the directory says; the ZIP is damaged.`);
    }
    const start = entry.relativeOffsetOfLocalHeader + LOCAL_HEADER_BYTES + local.readUInt16LE(26) + local.readUInt16LE(28);
    const raw = this.bytesAt(start, entry.compressedSize, file);
    let data = raw;
    if (entry.compressionMethod === 8) {
      try {
        // One output buffer of the declared size plus the byte that proves a lie.
        data = inflateRawSync(raw, { maxOutputLength: declared + 1, chunkSize: Math.max(64, declared + 1) });
      } catch (err) {
        if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw lyingEntry(file, 'more than');
        throw zipReadError(err);
      }
    }
    if (data.length > declared) throw lyingEntry(file, 'more than');
    if (data.length < declared) throw damagedEntry(file);
    this.inflated += data.length;
    if (this.inflated > this.caps.maxUnzippedBytes) throw tooMuchInflated(this.caps);
    return data;
  }

  private bytesAt(position: number, length: number, file: ZipEntryFile): Buffer {
    const bytes = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, bytes, got, length - got, position + got);
      if (n === 0) throw new OvenError('ZIP_INVALID', `The ZIP entry ${shown(file.name)} runs past the end of the file; the ZIP is truncated.`);
      got += n;
    }
    return bytes;
  }

  /** Streams the entry into a new file at `target` ('wx': never follows or replaces anything). */
  async write(file: ZipEntryFile, target: string, written: string[]): Promise<void> {
    const source = await this.stream(file);
    const sink = createWriteStream(target, { flags: 'wx' });
    sink.once('open', () => written.push(target));
    try {
      await pipeline(source, sink, this.signal ? { signal: this.signal } : {});
    } catch (err) {
      // A bad entry can fail the pipeline before the file has even opened; wait until it has opened
      // and closed again, so the caller's clean-up sees (and removes) it.
      if (!sink.closed) await once(sink, 'close').catch(() => undefined);
      throw zipReadError(err);
    }
  }

  close(): void {
    this.zipfile.close();
    closeSync(this.fd);
  }

  /** The entry's inflated bytes, counted: exactly its declared size, within the entry and ZIP caps. */
  private async stream(file: ZipEntryFile): Promise<Readable> {
    this.signal?.throwIfAborted();
    checkReadable(this.zipfile, file);
    const declared = file.size;
    let bytes = 0;
    const zip = this;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        zip.inflated += chunk.length;
        if (bytes > declared) return done(lyingEntry(file, 'more than'));
        if (zip.inflated > zip.caps.maxUnzippedBytes) return done(tooMuchInflated(zip.caps));
        done(null, chunk);
      },
      flush(done) {
        done(bytes < declared ? damagedEntry(file) : null);
      },
    });
    let source: Readable;
    try {
      source = await this.zipfile.openReadStreamPromise(file.entry);
    } catch (err) {
      throw zipReadError(err);
    }
    // Either side failing destroys both: a refused entry stops inflating at once.
    return pipelineStreams(source, counter, () => undefined);
  }
}

/** Every entry's name, kind, flags and declared sizes; throws on the first unsafe one. */
async function survey(zipfile: yauzl.ZipFile, caps: Caps, signal: AbortSignal | undefined, boundBySizeAlone: (segments: string[]) => boolean): Promise<ZipEntryFile[]> {
  if (zipfile.entryCount === 0) throw new OvenError('ZIP_EMPTY', 'The ZIP holds no files.');
  if (zipfile.entryCount > caps.maxEntries) {
    throw new OvenError('ZIP_TOO_MANY_ENTRIES', `The ZIP holds ${zipfile.entryCount} entries; at most ${caps.maxEntries} are accepted.`);
  }
  const seen = new Set<string>();
  const files: ZipEntryFile[] = [];
  let declaredTotal = 0;
  for await (const entry of zipfile.eachEntry()) {
    signal?.throwIfAborted();
    const name = safeEntryName(entry);
    const isDirectory = entryIsDirectory(entry, name);
    if ((entry.generalPurposeBitFlag & ENCRYPTED_BITS) !== 0) throw new OvenError('ZIP_ENCRYPTED', `The ZIP entry ${shown(name)} is encrypted; tapes must not be.`);
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
    checkDeclaredSize(entry, name, caps, boundBySizeAlone(segments));
    files.push({ name, segments, size: entry.uncompressedSize, entry });
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

function checkDeclaredSize(entry: yauzl.Entry, name: string, caps: Caps, boundBySizeAlone: boolean): void {
  if (entry.uncompressedSize > caps.maxEntryBytes) {
    throw new OvenError('ZIP_BOMB', `The ZIP entry ${shown(name)} would unpack to ${entry.uncompressedSize} bytes; one entry may have at most ${caps.maxEntryBytes}.`);
  }
  if (boundBySizeAlone) return;
  const ratio = entry.uncompressedSize / Math.max(1, entry.compressedSize);
  if (entry.uncompressedSize > RATIO_CHECK_MIN_BYTES && ratio > caps.maxRatio) {
    throw new OvenError('ZIP_BOMB', `The ZIP entry ${shown(name)} is compressed ${Math.round(ratio)}:1, more than the ${caps.maxRatio}:1 a real tape file reaches; it looks like a ZIP bomb.`);
  }
}

const LOCAL_HEADER_BYTES = 30;
const LOCAL_HEADER_SIGNATURE = 0x04034b50;

function lyingEntry(file: ZipEntryFile, how: string): OvenError {
  return new OvenError('ZIP_BOMB', `The ZIP entry ${shown(file.name)} inflates to ${how} the ${file.size} bytes its header says; the ZIP lies about its sizes.`);
}

function damagedEntry(file: ZipEntryFile): OvenError {
  return new OvenError('ZIP_INVALID', `The ZIP entry ${shown(file.name)} inflates to fewer than the ${file.size} bytes its header says; the ZIP is damaged.`);
}

function tooMuchInflated(caps: Caps): OvenError {
  return new OvenError('ZIP_BOMB', `The ZIP unpacks to more than ${caps.maxUnzippedBytes} bytes, the limit.`);
}

/** Before an entry is read: it can be inflated and lies inside the file. */
function checkReadable(zipfile: yauzl.ZipFile, file: ZipEntryFile): void {
  const { entry } = file;
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) {
    throw new OvenError('ZIP_INVALID', `The ZIP entry ${shown(file.name)} uses compression method ${entry.compressionMethod}; only stored and deflated entries can be read.`);
  }
  if (entry.compressionMethod === 0 && entry.compressedSize !== entry.uncompressedSize) {
    throw new OvenError('ZIP_INVALID', `The ZIP entry ${shown(file.name)} is stored uncompressed, yet its header gives two different sizes; the ZIP is damaged.`);
  }
  if (entry.relativeOffsetOfLocalHeader + LOCAL_HEADER_BYTES + entry.compressedSize > zipfile.fileSize) {
    throw new OvenError('ZIP_INVALID', `The ZIP entry ${shown(file.name)} runs past the end of the file; the ZIP is truncated.`);
  }
}

/**
 * yauzl and zlib errors say the ZIP is bad; our own refusals, file-system errors and a stop (the
 * caller's signal) keep their meaning.
 */
function zipReadError(err: unknown): unknown {
  if (err instanceof OvenError) return err;
  if (typeof (err as { syscall?: unknown } | null)?.syscall === 'string') return toOvenError(err);
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'AbortError' || name === 'TimeoutError') return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new OvenError('ZIP_INVALID', `The file is not a readable ZIP (${reason.slice(0, 200)}).`, { cause: err });
}

/** An entry name as quoted in a message: escaped, and cut short if long. */
export function shown(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 120 ? quoted.slice(0, 117) + '…"' : quoted;
}
