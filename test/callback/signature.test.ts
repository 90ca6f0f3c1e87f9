import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Webhook } from 'standardwebhooks';
import { signWebhook, verifyWebhook } from '../../contract/signature.ts';

const secret = 'a-callback-secret-of-some-length';
const asStandardSecret = 'whsec_' + Buffer.from(secret, 'utf8').toString('base64');
const body = JSON.stringify({ slug: 'x', status: 'success', note: 'ünïcødé' });

test('our signature verifies with the standardwebhooks package', () => {
  const ts = Math.floor(Date.now() / 1000);
  const signature = signWebhook(secret, 'msg_abc', ts, body);
  assert.match(signature, /^v1,[A-Za-z0-9+/]+=*$/);
  const verified = new Webhook(asStandardSecret).verify(body, {
    'webhook-id': 'msg_abc',
    'webhook-timestamp': String(ts),
    'webhook-signature': signature,
  });
  assert.deepEqual(verified, JSON.parse(body));
  // …and a tampered body does not.
  assert.throws(() =>
    new Webhook(asStandardSecret).verify(body.replace('success', 'failed'), {
      'webhook-id': 'msg_abc',
      'webhook-timestamp': String(ts),
      'webhook-signature': signature,
    }),
  );
});

test('verifyWebhook accepts what standardwebhooks signs', () => {
  const at = new Date();
  const signature = new Webhook(asStandardSecret).sign('msg_1', at, body);
  const ts = String(Math.floor(at.getTime() / 1000));
  assert.deepEqual(verifyWebhook(secret, { id: 'msg_1', timestamp: ts, signature }, body), { ok: true });
});

test('verifyWebhook refuses tampering, wrong secrets, stale times and missing headers', () => {
  const now = 1_800_000_000;
  const headers = { id: 'msg_1', timestamp: String(now), signature: signWebhook(secret, 'msg_1', now, body) };
  assert.deepEqual(verifyWebhook(secret, headers, body, { nowSec: now }), { ok: true });
  assert.equal(verifyWebhook(secret, headers, body + ' ', { nowSec: now }).ok, false);
  assert.equal(verifyWebhook(secret + 'x', headers, body, { nowSec: now }).ok, false);
  assert.equal(verifyWebhook(secret, { ...headers, id: 'msg_2' }, body, { nowSec: now }).ok, false);
  assert.equal(verifyWebhook(secret, headers, body, { nowSec: now + 301 }).ok, false);
  assert.equal(verifyWebhook(secret, headers, body, { nowSec: now - 301 }).ok, false);
  assert.deepEqual(verifyWebhook(secret, headers, body, { nowSec: now + 301, toleranceSeconds: 600 }), { ok: true });
  assert.equal(verifyWebhook(secret, { ...headers, timestamp: '17e8' }, body, { nowSec: now }).ok, false);
  assert.equal(verifyWebhook(secret, { id: 'msg_1', timestamp: String(now) }, body, { nowSec: now }).ok, false);
  assert.equal(verifyWebhook(secret, { ...headers, signature: 'v1,' }, body, { nowSec: now }).ok, false);
  assert.equal(verifyWebhook(secret, { ...headers, signature: headers.signature.replace('v1', 'v2') }, body, { nowSec: now }).ok, false);
});

test('verifyWebhook accepts any one matching signature of several', () => {
  const now = 1_800_000_000;
  const good = signWebhook(secret, 'msg_1', now, body);
  const other = signWebhook('the-previous-secret-value', 'msg_1', now, body);
  assert.deepEqual(verifyWebhook(secret, { id: 'msg_1', timestamp: String(now), signature: `${other} ${good}` }, body, { nowSec: now }), { ok: true });
});
