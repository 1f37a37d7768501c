import { readdirSync, readFileSync } from "node:fs";

/** Memory of one process, in KiB, from /proc/<pid>/status. */
export interface ProcessMemory {
  readonly pid: number;
  /** Resident set size now. */
  readonly rssKiB: number;
  /** Peak resident set size since the process started. */
  readonly peakRssKiB: number;
}

/** The workerd processes started by this process (Miniflare spawns workerd as a direct child). */
export function workerdChildren(parentPid: number = process.pid): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // comm is parenthesised and may hold spaces: fields after the last ")" are fixed.
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === parentPid && comm.startsWith("workerd")) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** RSS and peak RSS of a process, or undefined when it is gone. */
export function processMemory(pid: number): ProcessMemory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
    return { pid, rssKiB: kib("VmRSS"), peakRssKiB: kib("VmHWM") };
  } catch {
    return undefined;
  }
}

/** CPU time (user + system) a process has used, in milliseconds. */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after comm and state.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux.
  } catch {
    return undefined;
  }
}

/** Machine-wide CPU time from /proc/stat, in milliseconds: busy (steal included) and steal alone. */
export function machineCpuMs(): { busy: number; steal: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1, 9).map(Number) as number[];
  const tick = 1000 / 100; // USER_HZ
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: busy * tick, steal: steal! * tick, total: (busy + idle! + iowait!) * tick };
}
