// `hotline drill run`: a drill director runs a scenario file to its end, with progress, and writes the report.
import type { Command } from 'commander';
import { readFileSync, writeFileSync } from 'node:fs';
import { formatDuration, HotlineError } from '../../shared/index.ts';
import { reportMarkdown } from '../drill/report.ts';
import { drillIdFor, runDrill, type DrillProgress } from '../drill/runner.ts';
import { parseScenario } from '../drill/scenario.ts';
import { fail, output, withClient } from './context.ts';

function progressLine(p: DrillProgress): string {
  return `DRILL: injects sent ${p.sent}/${p.total} · delivered ${p.delivered} · acked ${p.acked} · overdue ${p.overdue} · ${Math.round(p.elapsedMs / 1000)}s`;
}

export function registerDrillCommands(program: Command): void {
  const drill = program.command('drill').description('drills: rehearse a crisis over the real path, always marked DRILL');
  drill
    .command('run')
    .description('run a scenario (YAML or JSON) as drill director: sends each inject at its time, follows acks and escalations, writes the report')
    .argument('<scenario>', 'scenario file, e.g. docs/examples/grid-ransomware.yaml')
    .option('--report <file>', 'write the report here (Markdown when it ends in .md, else JSON)')
    .option('--drill-id <id>', 'drill id (default: from the name and start time)')
    .option('--relay <url>', 'relay URL(s), comma-separated')
    .option('--json', 'print the report as JSON on stdout')
    .action(async (file: string, opts: { report?: string; drillId?: string; relay?: string; json?: boolean }) => {
      try {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (cause) {
          throw new HotlineError('BAD_INPUT', `cannot read scenario ${file}: ${(cause as NodeJS.ErrnoException).code ?? 'error'}`);
        }
        const scenario = parseScenario(text, file);
        const drillId = opts.drillId ?? drillIdFor(scenario.name, Date.now());
        let last = '';
        const report = await withClient({ relay: opts.relay, reconnect: true }, (client) =>
          runDrill(client, scenario, {
            drillId,
            onStart: (plan) =>
              process.stderr.write(
                `drill run: runs until every inject is acknowledged or missed (about ${formatDuration(plan.longestMs)} at most; last inject sent after ${formatDuration(plan.lastInjectMs)}; deadlines ${Object.entries(plan.deadlines).map(([l, ms]) => `${l} ${formatDuration(ms ?? 0)}`).join(', ')}); ` +
                  'the PoCs answer from their own terminals (hotline listen, hotline ack ID); Ctrl-C stops\n',
              ),
            onInjectSent: (index, id) => process.stderr.write(`${process.stderr.isTTY ? '\n' : ''}DRILL ${drillId}: inject ${index} sent (${id})\n`),
            onProgress: (p) => {
              const line = progressLine(p);
              if (line.replace(/ · \d+s$/, '') === last.replace(/ · \d+s$/, '') && !process.stderr.isTTY) return;
              last = line;
              process.stderr.write(process.stderr.isTTY ? `\r${line}` : `${line}\n`);
            },
          }),
        );
        if (process.stderr.isTTY) process.stderr.write('\n');
        if (opts.report) {
          writeFileSync(opts.report, opts.report.endsWith('.md') ? reportMarkdown(report) : JSON.stringify(report, null, 2) + '\n');
        }
        const t = report.totals;
        output(opts, report, () =>
          [
            `DRILL "${scenario.name}" (${drillId}) finished: ${t.acknowledged}/${t.injects} injects acknowledged, ${t.missed} missed`,
            `  time to acknowledge: median ${t.medianTimeToAckMs === null ? '—' : `${(t.medianTimeToAckMs / 1000).toFixed(1)} s`}, p95 ${t.p95TimeToAckMs === null ? '—' : `${(t.p95TimeToAckMs / 1000).toFixed(1)} s`}; within deadline ${t.withinDeadlineShare === null ? '—' : `${Math.round(t.withinDeadlineShare * 100)}%`}`,
            ...(opts.report ? [`  report written to ${opts.report}`] : []),
          ].join('\n'),
        );
      } catch (e) {
        fail('drill run', e, !!opts.json);
      }
    });

  drill
    .command('check')
    .description('validate a scenario file without running it')
    .argument('<scenario>', 'scenario file')
    .option('--json', 'machine-readable output')
    .action((file: string, opts: { json?: boolean }) => {
      try {
        const s = parseScenario(readFileSync(file, 'utf8'), file);
        output(opts, s, () => `${file}: "${s.name}", ${s.participants.join('–')}, ${s.injects.length} injects, time scale ${s.timeScale}× — valid`);
      } catch (e) {
        fail('drill check', e, !!opts.json);
      }
    });
}
