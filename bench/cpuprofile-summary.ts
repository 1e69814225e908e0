// Reads a V8 .cpuprofile (node --cpu-prof, or bench/h2-profile.ts) and prints where the time went: self time
// by function and by file or group (Node internals by module, Porthole by source file, packages by name),
// and total (inclusive) time of the functions that matter, as a share of the sampled time. Idle samples are
// left out of the shares, so a lightly and a heavily loaded profile compare. A .heapprofile (sampled
// allocations, bench/h2-profile.ts writes one next to each CPU profile) is summarized the same way, in bytes.
//   node --import tsx bench/cpuprofile-summary.ts FILE.cpuprofile|FILE.heapprofile [--top N] [--match TEXT] [--requests N]
// With --requests (the requests served while profiling) times are also shown per request, in microseconds.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface Row {
  name: string;
  ms: number;
  share: number;
}

export interface Summary {
  /** Sampled time that was not idle, in ms. */
  busyMs: number;
  idleMs: number;
  gcMs: number;
  byFunction: Row[];
  byGroup: Row[];
  /** Inclusive: a sample counts once for every distinct function on its stack. */
  inclusive: Row[];
}

/** Where a frame's code lives: a Node internal module, a Porthole source file, a package, or V8's own. */
export function groupOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native)';
  const nodeInternal = /^node:(.*)$/.exec(url);
  if (nodeInternal) return `node:${nodeInternal[1]!}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `pkg:${pkg[1]!}`;
  const own = /\/(src\/.*|bench\/.*)$/.exec(url.replace(/^file:\/\//, ''));
  if (own) return own[1]!.replace(/\.js$/, '');
  return url;
}

function frameName(frame: CallFrame): string {
  const where = groupOf(frame.url, frame.functionName);
  const fn = frame.functionName || '(anonymous)';
  return frame.url ? `${fn} ${where}:${frame.lineNumber + 1}` : fn;
}

function rows(map: Map<string, number>, busyMs: number): Row[] {
  return [...map.entries()].map(([name, ms]) => ({ name, ms, share: busyMs > 0 ? ms / busyMs : 0 })).sort((a, b) => b.ms - a.ms);
}

export function summarize(profile: CpuProfile): Summary {
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    byId.set(node.id, node);
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const self = new Map<string, number>();
  const group = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let idleMs = 0;
  let gcMs = 0;
  let totalMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    // A sample's delta is the time since the previous one: charge it to this sample's stack.
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(profile.samples[i]!)!;
    totalMs += ms;
    const name = node.callFrame.functionName;
    if (name === '(idle)') {
      idleMs += ms;
      continue;
    }
    if (name === '(garbage collector)') gcMs += ms;
    const fn = frameName(node.callFrame);
    self.set(fn, (self.get(fn) ?? 0) + ms);
    const g = groupOf(node.callFrame.url, name);
    group.set(g, (group.get(g) ?? 0) + ms);
    const seen = new Set<string>();
    for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)!.callFrame;
      if (frame.functionName === '(root)') continue;
      const key = frameName(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + ms);
    }
  }
  const busyMs = totalMs - idleMs;
  return { busyMs, idleMs, gcMs, byFunction: rows(self, busyMs), byGroup: rows(group, busyMs), inclusive: rows(inclusive, busyMs) };
}

export function formatSummary(summary: Summary, top: number, match?: string, requests?: number): string {
  const pct = (share: number) => `${(share * 100).toFixed(1).padStart(5)}%`;
  const per = (ms: number) => (requests ? ` ${((ms * 1000) / requests).toFixed(1).padStart(6)} us/req` : '');
  const list = (title: string, list: Row[]) =>
    [`${title}:`, ...list.slice(0, top).map((r) => `  ${pct(r.share)} ${r.ms.toFixed(0).padStart(6)} ms${per(r.ms)}  ${r.name}`)].join('\n');
  const out = [
    `busy ${summary.busyMs.toFixed(0)} ms${per(summary.busyMs)}, idle ${summary.idleMs.toFixed(0)} ms, GC ${summary.gcMs.toFixed(0)} ms${per(summary.gcMs)} (${pct(summary.busyMs > 0 ? summary.gcMs / summary.busyMs : 0)} of busy)`,
    list('self time by group', summary.byGroup),
    list('self time by function', summary.byFunction),
  ];
  if (match)
    out.push(
      list(
        `total time, functions matching "${match}"`,
        summary.inclusive.filter((r) => r.name.includes(match)),
      ),
    );
  return out.join('\n');
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

/** Sampled allocations (HeapProfiler.stopSampling) by allocating function and by group, in bytes. */
export function summarizeHeap(root: HeapNode): { totalBytes: number; byFunction: Row[]; byGroup: Row[] } {
  const self = new Map<string, number>();
  const group = new Map<string, number>();
  let totalBytes = 0;
  const walk = (node: HeapNode) => {
    if (node.selfSize > 0) {
      totalBytes += node.selfSize;
      const fn = frameName(node.callFrame);
      self.set(fn, (self.get(fn) ?? 0) + node.selfSize);
      const g = groupOf(node.callFrame.url, node.callFrame.functionName);
      group.set(g, (group.get(g) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child);
  };
  walk(root);
  const bytes = (map: Map<string, number>) => rows(map, totalBytes).map((r) => ({ ...r, ms: r.ms / 1024 }));
  return { totalBytes, byFunction: bytes(self), byGroup: bytes(group) };
}

export function formatHeapSummary(summary: ReturnType<typeof summarizeHeap>, top: number): string {
  const list = (title: string, list: Row[]) =>
    [`${title}:`, ...list.slice(0, top).map((r) => `  ${(r.share * 100).toFixed(1).padStart(5)}% ${r.ms.toFixed(0).padStart(8)} KiB  ${r.name}`)].join('\n');
  return [
    `sampled allocations ${(summary.totalBytes / 1024 / 1024).toFixed(1)} MiB`,
    list('allocated by group', summary.byGroup),
    list('allocated by function', summary.byFunction),
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: bench/cpuprofile-summary.ts FILE.cpuprofile [--top N] [--match TEXT]');
  const at = (name: string) => process.argv.indexOf(`--${name}`);
  const top = at('top') > 0 ? Number(process.argv[at('top') + 1]) : 30;
  const match = at('match') > 0 ? process.argv[at('match') + 1] : undefined;
  const requests = at('requests') > 0 ? Number(process.argv[at('requests') + 1]) : undefined;
  const data: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
  if (file.endsWith('.heapprofile')) console.log(formatHeapSummary(summarizeHeap((data as { head: HeapNode }).head), top));
  else console.log(formatSummary(summarize(data as CpuProfile), top, match, requests));
}
