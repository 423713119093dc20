// The relay's time source, injected so deadline logic and tests need no real sleeping.

export interface Clock {
  /** Milliseconds since the epoch: the relay's authoritative time. */
  now(): number;
  setTimer(ms: number, fn: () => void): unknown;
  clearTimer(handle: unknown): void;
}

let lastNow = 0;

export const systemClock: Clock = {
  // Never backwards, so that audit times follow audit order (the verifier checks they do) across a clock step.
  now: () => (lastNow = Math.max(lastNow, Date.now())),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
