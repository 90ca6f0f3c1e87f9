// Keeps the machine's cores busy for a while, as a droplet's one vCPU is while it bakes: bugs that
// depend on timing hide on an idle machine. Each burner is its own process and stops by itself.

import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';

export interface CpuLoad {
  stop(): Promise<void>;
}

/** Starts one busy loop per core (or `count`), each ending by itself after `seconds`. */
export function loadCpu(options: { seconds: number; count?: number }): CpuLoad {
  const count = options.count ?? os.availableParallelism();
  const script = `const end = Date.now() + ${Math.round(options.seconds * 1000)}; while (Date.now() < end) {}`;
  const burners: ChildProcess[] = Array.from({ length: count }, () => spawn(process.execPath, ['-e', script], { stdio: 'ignore' }));
  for (const b of burners) b.unref();
  return {
    async stop() {
      await Promise.all(
        burners.map((b) => {
          if (b.exitCode !== null || b.signalCode !== null) return undefined;
          return new Promise<void>((resolve) => {
            b.once('exit', () => resolve());
            b.kill('SIGKILL');
          });
        }),
      );
    },
  };
}
