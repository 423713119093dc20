// The end-of-run summary on the terminal: per-peer figures, limits, scale, deadlines, profile, ratios and what is not comparable.
import { describeHybridWrap } from './hybrid-wrap.ts';
import type { BenchResults, SkippedPeer } from './results.ts';
import type { PeerFigures } from './steps.ts';
import type { Distribution } from './stats.ts';
import { round } from './stats.ts';

export function isSkipped(peer: PeerFigures | SkippedPeer): peer is SkippedPeer {
  return 'skipped' in peer;
}

export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a && b ? round(a / b, 3) : null;
}

function lat(d: Distribution | null | undefined): string {
  const n = (v: number) => (v >= 100 ? Math.round(v) : v);
  return d ? `${n(d.p50)} / ${n(d.p99)} / ${n(d.max)}` : '-';
}

function pad(text: string | number, width: number): string {
  return String(text).padEnd(width);
}

function peerRows(results: BenchResults): string[] {
  const rows = [
    `${pad('peer', 10)}${pad('max /s', 9)}${pad('lat@500 p50/p99/max ms', 28)}${pad('lat@2000', 28)}${pad('lat@max', 28)}${pad('srv CPU', 9)}${pad('µs/msg', 8)}${pad('RSS MB', 8)}gen CPU`,
  ];
  for (const name of ['hotline', 'bare', 'mosquitto'] as const) {
    const p = results[name];
    if (isSkipped(p)) {
      rows.push(`${pad(name, 10)}skipped: ${p.skipped}`);
      continue;
    }
    rows.push(
      pad(name, 10) +
        pad(p.throughputPerSec, 9) +
        pad(lat(p.latencyMs.at500), 28) +
        pad(lat(p.latencyMs.at2000), 28) +
        pad(lat(p.latencyMs.max), 28) +
        pad(`${p.serverCpuPercentAtMax}%`, 9) +
        pad(p.serverCpuUsPerMessageAtMax ?? '-', 8) +
        pad(p.serverRssPeakMB, 8) +
        `${p.generatorCpuPercentAtMax}%`,
    );
  }
  return rows;
}

export function printSummary(results: BenchResults): void {
  const m = results.meta;
  const out: string[] = [
    '',
    `================ results (${m.mode}, ${m.durationSec}s, load average ${m.loadAverageAtStart} at start, ${m.loadAverageAtEnd} at end) ================`,
    ...peerRows(results),
    '',
  ];
  const l = results.limits;
  out.push(
    `limits (one thread, same run): verifyEnvelope ${l.verifyPerSec}/s; parse+zod+verify ${l.parseValidateVerifyPerSec}/s; trust checks ${l.trustChecksPerSec ?? '-'}/s; ` +
      `receipt sign ${l.receiptSignPerSec}/s; fsync (4 KiB) ${l.fsyncPerSec}/s`,
  );
  if ('points' in results.review) {
    for (const p of results.review.points) {
      const all = p.filters.find((f) => f.filter === 'all notices');
      out.push(`reviewer report over ${p.envelopes.toLocaleString('en')} envelopes: ${all?.reportMs ?? '-'} ms (first page + aggregates, all notices); columns loaded in ${p.firstAggregatesMs} ms`);
    }
  }
  const e2e = results.endToEnd;
  if (!('skipped' in e2e)) {
    out.push(
      `end to end (${e2e.pairs} HotlineClient pairs in one process): max ${e2e.throughputPerSec}/s (client CPU ${e2e.clientCpuPercent}%, relay CPU ${e2e.relayCpuPercent ?? '-'}%); ` +
        `at ${e2e.offeredPerSec}/s send → recipient app ${lat(e2e.latencyMs)} ms`,
    );
  }
  const ev = results.evidence;
  if (!('skipped' in ev)) {
    const p = ev.primitivesUs;
    out.push(
      `evidence (µs per call): witness sign ${p.witnessSign} / verify ${p.witnessVerify} (${ratio(p.witnessVerify, 1e6 / l.verifyPerSec)}× an envelope verify), event sign ${p.eventSign} / verify ${p.eventVerify}, receipt sign ${p.receiptSign}` +
        (ev.bundle ? `; bundle ${Math.round(ev.bundle.bytesPer1000Notices / 1024)} KiB per 10^3 notices (${Math.round(ev.bundle.gzipBytesPer1000Notices / 1024)} KiB gzip), verified in ${ev.bundle.verifyMs} ms for ${ev.bundle.notices}: ${ev.bundle.verdict}` : ''),
    );
  }
  const hw = results.hybridWrap;
  if (hw && !('skipped' in hw)) out.push(`hybrid key wrap (X25519 + ML-KEM-768 vs X25519 alone): ${describeHybridWrap(hw).join('; ')}`);
  if (results.scale.points.length) {
    out.push('scale (Hotline): connections → relay RSS, per-connection, accept latency p50/p99/max at the offered rate');
    for (const s of results.scale.points) {
      out.push(
        `  ${pad(s.connections, 6)} RSS ${s.rssBaselineMB} → ${s.rssConnectedMB} MB (${s.rssDeltaPerConnectionKB} KB/conn), ` +
          `accept ${lat(s.acceptLatencyMs)} ms at ${s.offeredPerSec}/s` +
          (s.relayAccept?.count ? ` (inside the relay: p99 ≤ ${s.relayAccept.p99AtMostMs} ms, ${s.relayAccept.within10msPercent}% ≤ 10 ms)` : '') +
          `, relay CPU ${s.serverCpuPercent}%`,
      );
    }
  }
  const d = results.deadlines;
  out.push(`deadlines (FLASH ${d.deadlineMs} ms probes, never acknowledged): fire error p50/p99/max by offered rate`);
  for (const [rate, f] of Object.entries(d.byOfferedRate)) {
    out.push(`  ${pad(rate, 8)} ${f.fireErrorMs.p50 ?? 'null'} / ${f.fireErrorMs.p99 ?? 'null'} / ${f.fireErrorMs.max ?? 'null'} ms (${f.events} steps fired for ${f.probes} probes)`);
  }
  if (Object.keys(d.byOfferedRate).length === 0) out.push(`  ${d.note}`);
  const byPending = Object.values(d.byPending);
  if (byPending.length) {
    out.push(`deadlines with N pending (preloaded FLASH 1 h, none due): probe fire error p50/p99/max at ${byPending[0]?.offeredRate ?? '?'}/s offered`);
    for (const p of byPending) {
      out.push(
        `  ${pad(p.pending, 8)} ${p.p50 ?? 'null'} / ${p.p99 ?? 'null'} / ${p.max ?? 'null'} ms (${p.events} steps for ${p.probes} probes), ` +
          `${p.achievedRate}/s delivered, preload ${p.preloadSec}s, relay start ${p.relayStartSec}s`,
      );
    }
  }
  if ('categories' in results.profile) {
    out.push(`profile (relay self time by category, ${results.profile.busySec}s busy):`);
    for (const c of results.profile.categories.slice(0, 12)) out.push(`  ${String(c.percent).padStart(5)}%  ${String(c.usPerNotice ?? '-').padStart(5)} µs/notice  ${c.category}`);
  } else {
    out.push(`profile: skipped (${results.profile.skipped})`);
  }
  const r = results.ratios;
  out.push(
    '',
    `ratios: hotline/bare ${r.hotlineVsBare ?? 'n/a'}   hotline/mosquitto ${r.hotlineVsMosquitto ?? 'n/a'}   hotline/verify-limit ${r.hotlineVsVerifyLimit ?? 'n/a'}`,
    '',
    'what each peer does per message (the comparison is NOT like for like):',
    ...Object.values(results.fairness).map((f) => `  - ${f}`),
    ...results.notes.map((n) => `  * ${n}`),
  );
  console.log(out.join('\n'));
}
