// Drills on the relay: a director registers a drill (its channel and deadline overrides), sends its injects, ends it.
import { HotlineError, type Level } from '../shared/index.ts';
import type { AuditLog } from './audit-log.ts';
import type { Clock } from './clock.ts';
import type { GroupCommit } from './group-commit.ts';
import type { DrillRecord, MemberRecord, RelayStore } from './store.ts';
import { timingRecords } from './timing-records.ts';

export interface DrillStartInput {
  readonly drillId: string;
  readonly name: string;
  readonly channel: string;
  readonly timeScale: number;
  readonly deadlines: Partial<Record<Level, number>>;
}

export class Drills {
  constructor(
    private readonly store: RelayStore,
    private readonly audit: AuditLog,
    private readonly commits: GroupCommit,
    private readonly clock: Clock,
  ) {}

  async start(director: MemberRecord, input: DrillStartInput): Promise<DrillRecord> {
    if (director.role !== 'director') throw new HotlineError('WRONG_ROLE', 'only a drill director (role director) registers drills');
    if (!this.store.getChannel(input.channel)) throw new HotlineError('UNKNOWN_CHANNEL', `no channel ${input.channel}: the operator must open it before the drill`);
    if (this.store.getDrill(input.drillId)) throw new HotlineError('CONFLICT', `drill id ${input.drillId} is already used`);
    await this.commits.enqueue(() => {
      const now = this.clock.now();
      this.store.addDrill({ drillId: input.drillId, name: input.name, director: director.kid, channel: input.channel, deadlines: input.deadlines, timeScale: input.timeScale, startedAt: now });
      this.audit.append('drill.start', { drillId: input.drillId, name: input.name, channel: input.channel, director: director.kid, deadlines: input.deadlines, timeScale: input.timeScale }, now);
    });
    return this.store.getDrill(input.drillId) as DrillRecord;
  }

  async end(director: MemberRecord, drillId: string): Promise<DrillRecord> {
    const drill = this.ownDrill(director, drillId);
    await this.commits.enqueue(() => {
      const now = this.clock.now();
      if (this.store.endDrill(drillId, now)) this.audit.append('drill.end', { drillId, channel: drill.channel }, now);
    });
    return this.store.getDrill(drillId) as DrillRecord;
  }

  ownDrill(director: MemberRecord, drillId: string): DrillRecord {
    const drill = this.store.getDrill(drillId);
    if (!drill) throw new HotlineError('UNKNOWN_ID', `no drill ${drillId} on this relay`);
    if (drill.director !== director.kid) throw new HotlineError('FORBIDDEN', 'this drill belongs to another director');
    return drill;
  }
}

/** Status of a drill: timing records of its notices and raises, and every drill message. */
export function drillStatus(store: RelayStore, drill: DrillRecord, now: number): { records: Record<string, unknown>[]; messages: Record<string, unknown>[] } {
  const page = timingRecords(store.db, { drillId: drill.drillId }, now, { limit: 1000 });
  return { records: page.records, messages: store.drillEnvelopes(drill.drillId) };
}
