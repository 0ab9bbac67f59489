// Parses kept from one tick to the next, keyed by file and text: a tick reads every policy and
// manifest again from HEAD, and most of them have not changed since the last tick. Reusing what the
// identical text gave (policies and canary states, which are only ever read) gives the identical
// result, so state is still read only from Git; only the CPU of parsing it again is saved.

/** What one file's text parsed to. */
interface Entry<T> {
  text: string;
  value: T;
}

/**
 * Two generations: what this tick used, and what the last one did. An entry not used for a whole
 * tick is dropped, so the cache holds at most two ticks' files.
 */
export class ParseCache {
  #current = new Map<string, Entry<unknown>>();
  #previous = new Map<string, Entry<unknown>>();

  /** Starts a tick: what the last tick did not use is dropped. */
  nextTick(): void {
    this.#previous = this.#current;
    this.#current = new Map();
  }

  /**
   * `parse(text)` for `file`, or the value it gave for this exact text before. `kind` keeps what
   * one file gave as a policy and as a canary's state apart. A parse that throws is not kept.
   */
  get<T>(kind: string, file: string, text: string, parse: (text: string) => T): T {
    const key = `${kind}\0${file}`;
    const known = (this.#current.get(key) ?? this.#previous.get(key)) as Entry<T> | undefined;
    if (known !== undefined && known.text === text) {
      this.#current.set(key, known);
      return known.value;
    }
    const value = parse(text);
    this.#current.set(key, { text, value });
    return value;
  }
}
