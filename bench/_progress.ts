// The progress counter of bench/run.ts: `[done/total] what runs now`. On a terminal it rewrites
// one line; anywhere else (a CI log, a pipe) it prints one plain line per step, with no carriage
// return and no escape codes.

/** Counts completed steps of a run and says which one runs now. */
export class Progress {
  #done = 0;
  #total = 0;
  #open = false;

  /**
   * @param write Where the text goes (process.stdout.write).
   * @param tty Whether that is a terminal (process.stdout.isTTY).
   */
  constructor(readonly write: (text: string) => void, readonly tty: boolean) {}

  /** Steps completed. */
  get done(): number {
    return this.#done;
  }

  /** Steps planned, completed or not. */
  get total(): number {
    return this.#total;
  }

  /** Plans `steps` more steps; call it before the first of them starts. */
  plan(steps: number): void {
    this.#total += steps;
  }

  /** Says that the next step starts. The counter shows the steps completed before it. */
  start(text: string): void {
    const line = `[${this.#done}/${this.#total}] ${text}`;
    if (this.tty) {
      this.write(`\r\x1b[2K${line}`);
      this.#open = true;
    } else {
      this.write(`${line}\n`);
    }
  }

  /** Counts `steps` completed (or given up: a crashed client's remaining cells). */
  step(steps = 1): void {
    this.#done = Math.min(this.#total, this.#done + steps);
  }

  /** Prints a line of its own (a failure), leaving the progress line intact on a terminal. */
  note(text: string): void {
    this.#clear();
    this.write(`${text}\n`);
  }

  /** Clears the progress line before the report is printed. */
  finish(): void {
    this.#clear();
  }

  #clear(): void {
    if (this.#open) this.write("\r\x1b[2K");
    this.#open = false;
  }
}
