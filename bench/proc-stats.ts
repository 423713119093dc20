// CPU time and resident memory of another process, read from /proc (Linux): how relay and broker figures are taken.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** One reading of a process: CPU seconds used so far (user + system) and resident set size. */
export interface ProcSample {
  readonly atMs: number;
  readonly cpuSec: number;
  readonly rssBytes: number;
}

function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

const ticksPerSec = clockTicksPerSecond();

/** Reads /proc/PID/stat and /proc/PID/status; null when the process is gone or /proc is missing. */
export function sampleProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start at field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    return { atMs: performance.now(), cpuSec: ticks / ticksPerSec, rssBytes: rssKb * 1024 };
  } catch {
    return null;
  }
}

/** Share of one core used between two samples, in percent (200 = two cores busy). */
export function cpuPercent(from: ProcSample, to: ProcSample): number {
  const wallSec = (to.atMs - from.atMs) / 1000;
  return wallSec > 0 ? ((to.cpuSec - from.cpuSec) / wallSec) * 100 : 0;
}

export function megabytes(bytes: number): number {
  return Math.round((bytes / (1024 * 1024)) * 10) / 10;
}

/** Samples a process's RSS on an interval and keeps the peak. */
export class RssWatcher {
  private peakBytes = 0;
  private lastBytes = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs = 250,
  ) {
    this.read();
    this.timer = setInterval(() => this.read(), intervalMs);
    this.timer.unref();
  }

  private read(): void {
    const s = sampleProc(this.pid);
    if (!s) return;
    this.lastBytes = s.rssBytes;
    this.peakBytes = Math.max(this.peakBytes, s.rssBytes);
  }

  stop(): { peakMB: number; lastMB: number } {
    this.read();
    clearInterval(this.timer);
    return { peakMB: megabytes(this.peakBytes), lastMB: megabytes(this.lastBytes) };
  }
}

/** CPU seconds this (generator) process has used, user + system. */
export function selfCpuSec(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Whole-machine CPU seconds (all cores) from /proc/stat: busy in this VM, and stolen by the hypervisor; null off Linux. */
export function machineCpuSec(): { busy: number; steal: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    const busy = [user, nice, system, irq, softirq].reduce<number>((a, b) => a + (b ?? 0), 0);
    return { busy: busy / ticksPerSec, steal: (steal ?? 0) / ticksPerSec };
  } catch {
    return null;
  }
}

/** 1-minute load average, to warn when other work shares the machine. */
export function loadAverage(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}
