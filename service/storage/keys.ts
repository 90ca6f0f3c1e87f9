// Blob keys: where a tape's files live in a store, and which keys are safe to use as paths.

export function tapeKeys(slug: string): { mp4: string; thumbnail: string; webm: string; gif: string } {
  return { mp4: `tapes/${slug}.mp4`, thumbnail: `tapes/${slug}-thumb.jpg`, webm: `tapes/${slug}.webm`, gif: `tapes/${slug}.gif` };
}

// A segment starts with a letter, digit, _ or -: no "..", no hidden (temporary) files.
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,254}$/;

/** True for keys made of plain segments joined by "/": nothing that could climb out of a folder. */
export function isSafeKey(key: string): boolean {
  const segments = key.split('/');
  return key.length <= 1024 && segments.every((s) => SEGMENT.test(s));
}

/** Cache-Control for tape files. A re-bake rewrites the same key, so not "immutable": a day is the longest a stale copy is seen. */
export const BLOB_CACHE_CONTROL = 'public, max-age=86400';

const TYPES: Record<string, string> = {
  mp4: 'video/mp4',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webm: 'video/webm',
  gif: 'image/gif',
  json: 'application/json',
  zip: 'application/zip',
};

export function contentTypeFor(key: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(key)?.[1]?.toLowerCase();
  return (ext && TYPES[ext]) ?? 'application/octet-stream';
}

/**
 * The object key when zipUrl points into the art bucket — virtual-host style
 * (bucket.sfo3.digitaloceanspaces.com/key), its CDN twin (bucket.sfo3.cdn.digitaloceanspaces.com/key)
 * or path style (sfo3.digitaloceanspaces.com/bucket/key) on that endpoint — else undefined.
 */
export function artObjectKey(zipUrl: URL, art: { endpoint: string; bucket: string }): string | undefined {
  const endpoint = new URL(art.endpoint);
  const host = zipUrl.host.toLowerCase();
  const endpointHost = endpoint.host.toLowerCase();
  const bucket = art.bucket.toLowerCase();
  let rawKey: string | undefined;
  const cdnHost = endpointHost.replace(/^([a-z0-9-]+)\.digitaloceanspaces\.com$/, '$1.cdn.digitaloceanspaces.com');
  if (host === `${bucket}.${endpointHost}` || (cdnHost !== endpointHost && host === `${bucket}.${cdnHost}`)) {
    rawKey = zipUrl.pathname.slice(1);
  } else if (host === endpointHost && zipUrl.pathname.startsWith(`/${art.bucket}/`)) {
    rawKey = zipUrl.pathname.slice(art.bucket.length + 2);
  }
  if (!rawKey) return undefined;
  try {
    return decodeURIComponent(rawKey);
  } catch {
    return undefined;
  }
}

