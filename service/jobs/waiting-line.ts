// The line of jobs waiting for a free baker, first come first served.
// Kept behind this small class so another ordering (priorities, fairness per user) can slot in.

export class WaitingLine {
  private ids: string[] = [];

  get length(): number {
    return this.ids.length;
  }

  push(jobId: string): void {
    if (!this.ids.includes(jobId)) this.ids.push(jobId);
  }

  shift(): string | undefined {
    return this.ids.shift();
  }

  /** 1 for the next job to start, 0 when not waiting. */
  position(jobId: string): number {
    return this.ids.indexOf(jobId) + 1;
  }

}
