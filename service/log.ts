// One JSON line per event on stdout, with a stable shape: time, level, msg, then fields.
// `journalctl -u oven -o cat | jq` follows it. Secrets registered here are masked in every line.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const secrets = new Set<string>();
let threshold = LEVELS.info;
let sink: (line: string) => void = (line) => process.stdout.write(line + '\n');

/**
 * Values that must never reach a log line, however they got into one. Masking works on the finished
 * JSON line, so the secret is also masked as a JSON string holds it (quotes and backslashes escaped)
 * and URL-encoded (as a request path shows it).
 */
export function registerSecret(value: string | undefined): void {
  if (!value || value.length < 4) return;
  for (const form of [value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value)]) secrets.add(form);
}

export function setLogLevel(level: LogLevel): void {
  threshold = LEVELS[level];
}

/** For tests: collect lines instead of printing them. */
export function setLogSink(write: (line: string) => void): void {
  sink = write;
}

function redact(line: string): string {
  for (const secret of secrets) {
    if (line.includes(secret)) line = line.split(secret).join('[redacted]');
  }
  return line;
}

/**
 * An error as log fields: its code and sentence, and, for a failure nobody foresaw (anything that is
 * not an OvenError, or an INTERNAL one), the stack of what was really thrown, so it can be found.
 */
function errorFields(err: unknown): LogFields {
  if (err && typeof err === 'object') {
    const e = err as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown };
    const unforeseen = e.name !== 'OvenError' ? err : e.code === 'INTERNAL' ? e.cause : undefined;
    const stack = unforeseen instanceof Error ? unforeseen.stack?.slice(0, 4000) : undefined;
    return { errorCode: e.code, error: typeof e.message === 'string' ? e.message : String(err), ...(stack ? { stack } : {}) };
  }
  return { error: String(err) };
}

function write(level: LogLevel, msg: string, fields: LogFields = {}): void {
  if (LEVELS[level] < threshold) return;
  const { err, ...rest } = fields;
  const record = { time: new Date().toISOString(), level, msg, ...rest, ...(err === undefined ? {} : errorFields(err)) };
  let line: string;
  try {
    line = JSON.stringify(record);
  } catch {
    line = JSON.stringify({ time: record.time, level, msg, note: 'fields were not serialisable' });
  }
  sink(redact(line));
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line (a jobId, a slug). */
  child(fields: LogFields): Logger;
}

function makeLogger(base: LogFields): Logger {
  return {
    debug: (msg, f) => write('debug', msg, { ...base, ...f }),
    info: (msg, f) => write('info', msg, { ...base, ...f }),
    warn: (msg, f) => write('warn', msg, { ...base, ...f }),
    error: (msg, f) => write('error', msg, { ...base, ...f }),
    child: (f) => makeLogger({ ...base, ...f }),
  };
}

export const log: Logger = makeLogger({});

/**
 * Node prints its warnings (MaxListenersExceededWarning, a library's deprecation notice) as plain
 * text on stderr; every line the oven writes is JSON, so they are logged here instead.
 */
export function logProcessWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (warning) => log.warn('node warning', { warning: warning.name, error: warning.message }));
}
