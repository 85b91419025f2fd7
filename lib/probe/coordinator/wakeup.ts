// The coordinator waits on many things at once (messages, exits, closed connections, a signal)
// with one wait: whatever arrives wakes it, and it checks again what it waits for.

/** Wakes whoever waits when anything arrives (a message, an exit, a closed connection). */
export class Wakeup {
  private waiters: Array<() => void> = [];
  notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
  /** Waits until `done()` holds or the deadline passes; true when it holds. */
  async until(done: () => boolean, deadline: number): Promise<boolean> {
    while (!done()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }
}
