// Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
// "<webhook-id>.<webhook-timestamp>.<raw body>", keyed with the UTF-8 bytes of CALLBACK_SECRET.
// node:crypto only: the Netlify client bundles this file with the contract's shapes, nothing else.

import { createHmac, timingSafeEqual } from 'node:crypto';

export function signWebhook(secret: string, id: string, timestampSec: number, rawBody: string): string {
  const mac = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${id}.${timestampSec}.${rawBody}`).digest('base64');
  return `v1,${mac}`;
}

export interface WebhookHeaders {
  id?: string;
  timestamp?: string;
  signature?: string;
}

/**
 * Checks the headers of a received webhook. The signature header may hold several space-separated
 * signatures (during a secret rotation); one matching `v1` one is enough. The timestamp must be
 * within toleranceSeconds (default 300) of now in either direction, so an old capture cannot be replayed.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  rawBody: string,
  options: { toleranceSeconds?: number; nowSec?: number } = {},
): { ok: true } | { ok: false; reason: string } {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: 'webhook-id, webhook-timestamp or webhook-signature header missing' };
  if (!/^\d{1,12}$/.test(timestamp)) return { ok: false, reason: 'webhook-timestamp is not a Unix time in seconds' };
  const now = options.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(now - Number(timestamp)) > tolerance) return { ok: false, reason: 'webhook-timestamp is too old or too far in the future' };

  const expected = Buffer.from(signWebhook(secret, id, Number(timestamp), rawBody).slice(3), 'base64');
  for (const candidate of signature.split(' ')) {
    const [version, mac] = candidate.split(',', 2);
    if (version !== 'v1' || !mac) continue;
    const given = Buffer.from(mac, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true };
  }
  return { ok: false, reason: 'no signature matches' };
}
