// A hand-written ZIP writer, so tests can build any ZIP byte for byte, hostile ones included:
// lying sizes, symlinks, encrypted flags, names no archiver would write.

import { crc32, deflateRawSync } from 'node:zlib';

export interface ZipEntrySpec {
  name: string;
  /** Default empty. */
  data?: Buffer | string;
  /** Default deflate. */
  method?: 'store' | 'deflate';
  /** Unix mode in the external attributes, e.g. 0o120777 for a symlink. Default 0o100644 (0o040755 for a directory). */
  unixMode?: number;
  /** Sets general purpose bit 0 (and prefixes the 12-byte header traditional encryption has). */
  encrypted?: boolean;
  /** Written as the uncompressed size in both headers instead of the true one. */
  declaredUncompressedSize?: number;
  isDirectory?: boolean;
  /** An Info-ZIP Unicode Path extra field (0x7075) naming the entry differently from its header. */
  unicodePathName?: string;
}

const DOS_DATE_1980_01_01 = (0 << 9) | (1 << 5) | 1;
const FLAG_ENCRYPTED = 0x1;
const FLAG_UTF8 = 0x800;

function unicodePathField(headerName: Buffer, name: string): Buffer {
  const unicode = Buffer.from(name, 'utf8');
  const field = Buffer.alloc(4 + 5 + unicode.length);
  field.writeUInt16LE(0x7075, 0);
  field.writeUInt16LE(5 + unicode.length, 2);
  field.writeUInt8(1, 4);
  field.writeUInt32LE(crc32(headerName), 5);
  unicode.copy(field, 9);
  return field;
}

export function buildZip(entries: ZipEntrySpec[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;

  for (const spec of entries) {
    const name = Buffer.from(spec.name, 'utf8');
    const extra = spec.unicodePathName === undefined ? Buffer.alloc(0) : unicodePathField(name, spec.unicodePathName);
    const raw = typeof spec.data === 'string' ? Buffer.from(spec.data) : (spec.data ?? Buffer.alloc(0));
    const method = spec.method === 'store' ? 0 : 8;
    let body = method === 8 ? deflateRawSync(raw) : raw;
    if (spec.encrypted) body = Buffer.concat([Buffer.alloc(12, 0xa5), body]);
    const crc = crc32(raw);
    const uncompressedSize = spec.declaredUncompressedSize ?? raw.length;
    const flags = FLAG_UTF8 | (spec.encrypted ? FLAG_ENCRYPTED : 0);
    const mode = spec.unixMode ?? (spec.isDirectory ? 0o040755 : 0o100644);
    const external = ((mode << 16) >>> 0) | (spec.isDirectory ? 0x10 : 0);

    // Local and central headers share this run of fields, at offsets 4 and 6.
    const writeShared = (header: Buffer, at: number) => {
      header.writeUInt16LE(20, at); // version needed to extract
      header.writeUInt16LE(flags, at + 2);
      header.writeUInt16LE(method, at + 4);
      header.writeUInt16LE(0, at + 6);
      header.writeUInt16LE(DOS_DATE_1980_01_01, at + 8);
      header.writeUInt32LE(crc, at + 10);
      header.writeUInt32LE(body.length, at + 14);
      header.writeUInt32LE(uncompressedSize >>> 0, at + 18);
      header.writeUInt16LE(name.length, at + 22);
      header.writeUInt16LE(extra.length, at + 24);
    };

    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    writeShared(local, 4);
    locals.push(local, name, extra, body);

    const central = Buffer.alloc(46); // comment length, disk and internal attributes stay 0
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by Unix, so the mode in the high bits counts
    writeShared(central, 6);
    central.writeUInt32LE(external >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name, extra);

    offset += local.length + name.length + extra.length + body.length;
  }

  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
