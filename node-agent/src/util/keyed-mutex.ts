// Serialises work per key (e.g. one pod attachment) while different keys run in parallel.
export class KeyedMutex {
  private tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.then(work, work);
    const tail = next.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

/** Undo steps run in reverse order; each step's failure is reported but does not stop the others. */
export class UndoStack {
  private steps: Array<{ what: string; undo: () => Promise<unknown> }> = [];

  push(what: string, undo: () => Promise<unknown>): void {
    this.steps.push({ what, undo });
  }

  async run(onError: (what: string, e: unknown) => void): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step.undo();
      } catch (e) {
        onError(step.what, e);
      }
    }
    this.steps = [];
  }
}
