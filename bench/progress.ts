// Terminal progress: phase headings, a status line rewritten in place on a TTY, and elapsed time.

const started = performance.now();
const tty = process.stdout.isTTY === true;
let statusShown = false;
let lastPlainStatus = 0;

function elapsed(): string {
  return `${((performance.now() - started) / 1000).toFixed(0).padStart(4)}s`;
}

function clearStatus(): void {
  if (tty && statusShown) process.stdout.write('\r\x1b[2K');
  statusShown = false;
}

/** A new phase: `[  12s] == hotline: latency at 500/s ==`. */
export function phase(title: string): void {
  clearStatus();
  console.log(`[${elapsed()}] == ${title}`);
}

/** A finished result line. */
export function info(line: string): void {
  clearStatus();
  console.log(`[${elapsed()}]    ${line}`);
}

/** A transient status; on a non-TTY at most one line every 5 s. */
export function status(line: string): void {
  if (tty) {
    process.stdout.write(`\r\x1b[2K[${elapsed()}]    ${line.slice(0, (process.stdout.columns ?? 120) - 12)}`);
    statusShown = true;
  } else if (performance.now() - lastPlainStatus > 5000) {
    lastPlainStatus = performance.now();
    console.log(`[${elapsed()}]    ${line}`);
  }
}

export function warn(line: string): void {
  clearStatus();
  console.log(`[${elapsed()}] !! ${line}`);
}

export function elapsedSec(): number {
  return (performance.now() - started) / 1000;
}
