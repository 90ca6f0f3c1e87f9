// Checking a POST /bake body: who sent it, and whether every field is what the contract says.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { OvenError } from '../errors.ts';
import { SLUG_PATTERN, type BakeRequest } from '../jobs/job.ts';
import { EXTRA_OUTPUTS, type ExtraOutput } from '../../contract/index.ts';
import { checkUrl, type UrlPolicy } from '../net/guard.ts';

/** Constant-time comparison that does not leak the secret's length either. */
function sameSecret(given: unknown, secret: string): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(secret));
}

/** Accepted with `Authorization: Bearer <secret>` or the body's `callbackSecret` (what the live client sends). */
export function authorise(headers: IncomingHttpHeaders, body: unknown, secret: string): void {
  const auth = String(headers.authorization ?? '');
  const bearer = /^Bearer\s+(.+)$/i.exec(auth)?.[1]?.trim();
  const fromBody = body && typeof body === 'object' ? (body as Record<string, unknown>).callbackSecret : undefined;
  if (sameSecret(bearer, secret) || sameSecret(fromBody, secret)) return;
  throw new OvenError('UNAUTHORIZED', 'The secret is missing or wrong.');
}

function requiredString(body: Record<string, unknown>, field: string, maxLength: number): string {
  const value = body[field];
  if (typeof value !== 'string' || value.trim() === '') {
    throw new OvenError('BAD_REQUEST', `"${field}" is required and must be a non-empty string.`);
  }
  if (value.length > maxLength || /[\u0000-\u001f]/.test(value)) {
    throw new OvenError('BAD_REQUEST', `"${field}" must be at most ${maxLength} printable characters.`);
  }
  return value;
}

/** `outputs`: a list of "webm" and "gif" (the MP4 and thumbnail are always made). */
function parseOutputs(value: unknown): ExtraOutput[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.length > EXTRA_OUTPUTS.length * 2) {
    throw new OvenError('BAD_OUTPUTS', '"outputs" must be a list of "webm" and "gif".');
  }
  const unknown = value.find((o) => !EXTRA_OUTPUTS.includes(o as ExtraOutput));
  if (unknown !== undefined) {
    throw new OvenError('BAD_OUTPUTS', `"outputs" may hold "webm" and "gif" (the MP4 and thumbnail are always made), not ${JSON.stringify(unknown).slice(0, 40)}.`);
  }
  return [...new Set(value as ExtraOutput[])];
}

/**
 * How deep `metadata` may nest. It is echoed back in the callback and saved with the job, and
 * JSON.stringify recurses: a 64 KiB body of `[[[[…]]]]` would overflow its stack on the way out.
 */
export const MAX_METADATA_DEPTH = 32;

/** Walks the value without recursion, so a hostile nesting cannot overflow the stack here either. */
function nestsDeeperThan(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    if (depth >= limit) return true;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return false;
}

export async function parseBakeRequest(body: unknown, policy: UrlPolicy): Promise<BakeRequest> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    throw new OvenError('BAD_REQUEST', 'The request body must be a JSON object.');
  }
  const b = body as Record<string, unknown>;
  const mongoId = requiredString(b, 'mongoId', 200);
  const slug = requiredString(b, 'slug', 128);
  if (!SLUG_PATTERN.test(slug)) {
    throw new OvenError('BAD_SLUG', '"slug" must start with a letter or digit and hold only letters, digits, ".", "_" and "-" (at most 128).');
  }
  const zipUrl = requiredString(b, 'zipUrl', 2048);
  const callbackUrl = requiredString(b, 'callbackUrl', 2048);
  if (b.code !== undefined && b.code !== null && (typeof b.code !== 'string' || b.code.length > 200)) {
    throw new OvenError('BAD_REQUEST', '"code" must be a string of at most 200 characters.');
  }
  if (nestsDeeperThan(b.metadata, MAX_METADATA_DEPTH)) {
    throw new OvenError('BAD_REQUEST', `"metadata" may nest at most ${MAX_METADATA_DEPTH} levels deep.`);
  }
  const progressUrl = b.progressUrl === undefined || b.progressUrl === null ? undefined : requiredString(b, 'progressUrl', 2048);
  if (progressUrl !== undefined && progressUrl === callbackUrl) {
    // The receiver there expects only the terminal body.
    throw new OvenError('BAD_REQUEST', '"progressUrl" must not be the callbackUrl: progress goes elsewhere than the outcome.');
  }
  const outputs = parseOutputs(b.outputs);
  await checkUrl(zipUrl, policy, 'zipUrl');
  await checkUrl(callbackUrl, policy, 'callbackUrl');
  if (progressUrl !== undefined) await checkUrl(progressUrl, policy, 'progressUrl');
  return {
    mongoId,
    slug,
    zipUrl,
    callbackUrl,
    ...(typeof b.code === 'string' ? { code: b.code } : {}),
    ...(b.metadata !== undefined ? { metadata: b.metadata } : {}),
    ...(progressUrl !== undefined ? { progressUrl } : {}),
    ...(outputs.length ? { outputs } : {}),
  };
}
