// The figures of one run as Markdown tables (bench/results/latest.md), ready to paste into docs/PERFORMANCE.md.
import type { BenchResults } from './results.ts';
import { isSkipped } from './report.ts';
import type { Distribution } from './stats.ts';

function lat(d: Distribution | null | undefined): string {
  const n = (v: number) => (v >= 100 ? String(Math.round(v)) : String(v));
  return d ? `${n(d.p50)} / ${n(d.p99)} / ${n(d.max)}` : '–';
}

function row(cells: readonly (string | number | null)[]): string {
  return `| ${cells.map((c) => (c === null ? '–' : String(c))).join(' | ')} |`;
}

function peerTable(r: BenchResults): string[] {
  const out = [
    row(['peer', 'max /s', 'latency @500/s p50 / p99 / max ms', '@2000/s', '@max (closed loop)', 'accept @500/s p50 / p99', 'server CPU @max', 'server µs CPU / msg', 'server RSS peak MB', 'generator CPU @max', 'other CPU (max over steps)']),
    row(Array.from({ length: 11 }, () => '---')),
  ];
  for (const name of ['hotline', 'bare', 'mosquitto'] as const) {
    const p = r[name];
    if (isSkipped(p)) {
      out.push(row([name, `skipped: ${p.skipped}`, '', '', '', '', '', '', '', '', '']));
      continue;
    }
    const acc = p.acceptLatencyMs.at500;
    out.push(
      row([
        name,
        p.throughputPerSec,
        lat(p.latencyMs.at500),
        lat(p.latencyMs.at2000),
        lat(p.latencyMs.max),
        acc ? `${acc.p50} / ${acc.p99}` : null,
        `${p.serverCpuPercentAtMax}%`,
        p.serverCpuUsPerMessageAtMax,
        p.serverRssPeakMB,
        `${p.generatorCpuPercentAtMax}%`,
        `${Math.max(...p.steps.map((s) => s.otherCpuPercent ?? 0))}%`,
      ]),
    );
  }
  return out;
}

export function markdownSummary(r: BenchResults): string {
  const m = r.meta;
  const l = r.limits;
  const out: string[] = [
    `Run: ${m.mode}, ${m.startedAt}, ${m.durationSec} s; Node ${m.node}, ${m.cpus} × ${m.cpuModel}, ${m.memoryGB} GB; data on ${m.dataFileSystem}; ` +
      `load average ${m.loadAverageAtStart} at start, ${m.loadAverageAtEnd} at end. ${r.settings.pairs} pairs, ${r.settings.noticePlaintextBytes}-byte notices ` +
      `(${r.settings.frameBytes}-byte frames), ${r.settings.inFlightPerPair} in flight per pair at max.`,
    '',
    ...peerTable(r),
    '',
    row(['limit (one thread, same run)', 'per second']),
    row(['---', '---']),
    row(['verifyEnvelope', l.verifyPerSec]),
    row(['JSON.parse + zod + verifyEnvelope', l.parseValidateVerifyPerSec]),
    row(['trust checks (charter + rosters named, sender, recipients)', l.trustChecksPerSec ?? '-']),
    row(['receipt signing (signReceipt)', l.receiptSignPerSec]),
    row(['4 KiB write + fdatasync', l.fsyncPerSec]),
    '',
    row(['ratio', 'value']),
    row(['---', '---']),
    row(['hotline / bare', r.ratios.hotlineVsBare]),
    row(['hotline / mosquitto', r.ratios.hotlineVsMosquitto]),
    row(['hotline / verify limit', r.ratios.hotlineVsVerifyLimit]),
    '',
  ];
  if (r.scale.points.length) {
    out.push(
      row([
        'connected PoCs',
        'relay RSS before → with N connected (MB)',
        `accept latency @${r.scale.points[0]?.offeredPerSec ?? '?'}/s p50 / p99 / max ms (generator)`,
        'accept inside the relay: p99 bucket / share ≤ 10 ms',
        'relay event-loop delay p99 / max ms',
        'relay CPU',
        'other CPU',
      ]),
      row(['---', '---', '---', '---', '---', '---', '---']),
    );
    for (const s of r.scale.points) {
      const inside = s.relayAccept?.count ? `≤ ${s.relayAccept.p99AtMostMs} / ${s.relayAccept.within10msPercent}%` : null;
      const lag = s.relayEventLoopLagMs ? `${s.relayEventLoopLagMs.p99 ?? '-'} / ${s.relayEventLoopLagMs.max ?? '-'}` : null;
      out.push(
        row([s.connections, `${s.rssBaselineMB} → ${s.rssConnectedMB}`, lat(s.acceptLatencyMs), inside, lag, `${s.serverCpuPercent}%`, (s.otherCpuPercent ?? null) === null ? null : `${s.otherCpuPercent}%`]),
      );
    }
    out.push('');
  }
  if ('points' in r.review && r.review.points.length) {
    out.push(
      row(['reviewer report (first page + aggregates, median of 5)', 'notices', 'database MB', 'first load of the columns ms', 'all notices ms', 'real only ms', 'one channel, FLASH ms', 'last 7 days ms']),
      row(Array.from({ length: 8 }, () => '---')),
    );
    for (const p of r.review.points) {
      const ms = (label: string) => p.filters.find((f) => f.filter === label)?.reportMs ?? null;
      out.push(row([`${p.envelopes.toLocaleString('en')} envelopes`, p.notices, p.databaseMB, p.firstAggregatesMs, ms('all notices'), ms('real only'), ms('one channel, FLASH'), ms('last 7 days')]));
    }
    out.push('');
  }
  const e2e = r.endToEnd;
  if (!('skipped' in e2e)) {
    out.push(
      row([
        `end to end (${e2e.pairs} HotlineClient pairs, one process)`,
        'max /s',
        `send → recipient app @${e2e.offeredPerSec}/s p50 / p99 / max ms`,
        'send → receipt p50 / p99 ms',
        'client process CPU @max',
        'relay CPU @max',
      ]),
      row(Array.from({ length: 6 }, () => '---')),
      row(['real client crypto', e2e.throughputPerSec, lat(e2e.latencyMs), e2e.sendLatencyMs ? `${e2e.sendLatencyMs.p50} / ${e2e.sendLatencyMs.p99}` : null, `${e2e.clientCpuPercent}%`, e2e.relayCpuPercent === null ? null : `${e2e.relayCpuPercent}%`]),
      '',
    );
  }
  const hw = r.hybridWrap;
  if (hw && !('skipped' in hw)) {
    out.push(
      row([`key wrap, ${hw.recipients} recipients per notice (one thread)`, 'build µs', 'open µs', 'envelope bytes']),
      row(['---', '---', '---', '---']),
      row(['X25519 alone', hw.x25519.buildUs, hw.x25519.openUs, hw.x25519.envelopeBytes]),
      row(['X25519 + ML-KEM-768', hw.hybrid.buildUs, hw.hybrid.openUs, hw.hybrid.envelopeBytes]),
      row(['hybrid / X25519', `${hw.buildRatio}×`, `${hw.openRatio}×`, `+${hw.extraBytesPerRecipient} per recipient`]),
      '',
    );
  }
  out.push(row(['deadline probe (FLASH 1 s, never acknowledged)', 'fire error p50 / p99 / max ms', 'steps fired / probes']), row(['---', '---', '---']));
  for (const [rate, f] of Object.entries(r.deadlines.byOfferedRate)) {
    out.push(row([`during Hotline ${rate.replace('at', '')}/s`, `${f.fireErrorMs.p50} / ${f.fireErrorMs.p99} / ${f.fireErrorMs.max}`, `${f.events} / ${f.probes}`]));
  }
  const byPending = Object.values(r.deadlines.byPending);
  if (byPending.length) {
    out.push(
      '',
      row(['pending deadlines (preloaded, FLASH 1 h)', `probe fire error @${byPending[0]?.offeredRate ?? '?'}/s p50 / p99 / max ms`, 'steps fired / probes', 'delivered /s', 'preload s', 'relay start s', 'relay CPU', 'other CPU']),
      row(Array.from({ length: 8 }, () => '---')),
    );
    for (const p of byPending) {
      out.push(
        row([
          p.pending,
          `${p.p50} / ${p.p99} / ${p.max}`,
          `${p.events} / ${p.probes}`,
          p.achievedRate,
          p.preloadSec,
          p.relayStartSec,
          `${p.serverCpuPercent}%`,
          p.otherCpuPercent === null ? null : `${p.otherCpuPercent}%`,
        ]),
      );
    }
  }
  if ('categories' in r.profile) {
    out.push('', row(['relay main thread, by category', 'share', 'µs per notice']), row(['---', '---', '---']));
    for (const c of r.profile.categories.filter((c) => c.percent >= 0.5)) out.push(row([c.category, `${c.percent}%`, c.usPerNotice]));
  }
  return `${out.join('\n')}\n`;
}
