import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OvenError, toOvenError } from '../../service/errors.ts';
import { log, registerSecret, setLogSink } from '../../service/log.ts';

function captured(write: () => void): Record<string, unknown>[] {
  const lines: string[] = [];
  setLogSink((line) => lines.push(line));
  try {
    write();
  } finally {
    setLogSink((line) => process.stdout.write(line + '\n'));
  }
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('an unforeseen failure is logged with the stack of what was really thrown; a foreseen one with its code only', () => {
  const [internal, plain, foreseen] = captured(() => {
    log.error('a', { err: toOvenError(new TypeError('x is not a function')) });
    log.error('b', { err: new RangeError('Maximum call stack size exceeded') });
    log.warn('c', { err: new OvenError('TAPE_BAD_TIMING', 'timing.json is not valid JSON.') });
  });
  assert.equal(internal!.errorCode, 'INTERNAL');
  assert.match(String(internal!.stack), /^TypeError: x is not a function\n\s+at /);
  assert.match(String(plain!.stack), /^RangeError: Maximum call stack size exceeded/);
  assert.equal(foreseen!.errorCode, 'TAPE_BAD_TIMING');
  assert.equal(foreseen!.stack, undefined);
});

test('a registered secret is masked in a stack too', () => {
  registerSecret('stack-secret-0123456789');
  const [line] = captured(() => log.error('d', { err: new Error('token stack-secret-0123456789 refused') }));
  assert.doesNotMatch(JSON.stringify(line), /stack-secret-0123456789/);
  assert.match(String(line!.stack), /\[redacted\]/);
});
