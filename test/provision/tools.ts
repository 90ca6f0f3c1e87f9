// Runs the real provisioning tools (ansible, caddy, systemd-analyze) for the tests in this folder.
// A missing tool fails the test with the command that installs it: nothing is skipped.

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ansibleDir = path.join(repoRoot, 'ansible');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr together, for assertion messages. */
  output: string;
}

/** Fails with a sentence naming the setup command when `tool` is not on PATH. */
export function requireTool(tool: string): void {
  const found = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { encoding: 'utf8' });
  if (found.status !== 0) {
    throw new Error(`${tool} is not installed: run \`npm run setup -- --test\` (it installs the provisioning tools).`);
  }
}

/** Runs a command to its end and hands back its exit code and output; never throws on a non-zero exit. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string | undefined> } = {},
): Promise<RunResult> {
  requireTool(command);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_FORCE_COLOR: '0', NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, output: `${stdout}\n${stderr}` }));
  });
}

/** The last `max` characters of a tool's output, so a failed assertion shows what the tool said. */
export function tail(text: string, max = 4000): string {
  return text.length > max ? `…${text.slice(-max)}` : text;
}
