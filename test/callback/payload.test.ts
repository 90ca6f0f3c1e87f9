import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failurePayload, successPayload } from '../../service/callback/payload.ts';

const seed = { mongoId: '65f0c0ffee', slug: '2026.11.24.10.30.15.123', code: 'abc', jobId: 'job_1', metadata: { by: 'me' } };

test('success payload has the contract fields and no secret', () => {
  const body = successPayload(seed, { mp4Url: 'https://x/tapes/a.mp4', thumbnailUrl: 'https://x/tapes/a-thumb.jpg', durationMs: 8000, frames: 480, width: 768, height: 768, bytes: 12345 });
  assert.deepEqual(body, {
    mongoId: '65f0c0ffee', slug: '2026.11.24.10.30.15.123', code: 'abc', status: 'success', jobId: 'job_1',
    mp4Url: 'https://x/tapes/a.mp4', thumbnailUrl: 'https://x/tapes/a-thumb.jpg', durationMs: 8000, frames: 480,
    width: 768, height: 768, bytes: 12345, metadata: { by: 'me' },
  });
  assert.equal('secret' in body, false);
});

test('failure payload carries the error sentence and code; unknown optional fields are left out', () => {
  const body = failurePayload({ mongoId: 'm', slug: 's', jobId: 'j' }, { code: 'TAPE_BAD_TIMING', message: 'timing.json is not valid JSON.' });
  assert.deepEqual(body, { mongoId: 'm', slug: 's', status: 'failed', jobId: 'j', error: 'timing.json is not valid JSON.', errorCode: 'TAPE_BAD_TIMING' });
});
