// Operator actions: invites, channel opening, revocation, roster, and the join that consumes an invite. Each is an audit event.
import {
  channelOpenRequestSchema,
  deadlineTable,
  defaultEscalationPolicy,
  fingerprint,
  hash,
  HotlineError,
  inviteRequestSchema,
  joinRequestSchema,
  randomBytes,
  revokeRequestSchema,
  toB64u,
  utf8,
  verifyPrekey,
  verifyStatement,
  type ChannelInfo,
  type EscalationPolicy,
  type JoinResponse,
  type Role,
} from '../shared/index.ts';
import type { z } from 'zod';
import type { AuditLog } from './audit-log.ts';
import type { Clock } from './clock.ts';
import type { RelayStore } from './store.ts';

export const JOIN_CTX = 'hotline-join-v1';

function inviteHash(code: string): string {
  return toB64u(hash(utf8('hotline-invite-v1'), utf8(code)));
}

export interface RosterMember {
  readonly kid: string;
  readonly fingerprint: string;
  readonly name: string;
  readonly role: Role;
  readonly enrolledAt: number;
  readonly revokedAt: number | null;
}

export interface Roster {
  readonly relay: { readonly kid: string; readonly fingerprint: string };
  readonly states: { readonly code: string; readonly members: RosterMember[] }[];
  readonly channels: ChannelInfo[];
}

export class Admin {
  constructor(
    private readonly store: RelayStore,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly relayKid: string,
    private readonly onRevoked: (kid: string) => void,
  ) {}

  invite(input: z.input<typeof inviteRequestSchema>): { invite: string; state: string; role: Role; expiresAt: number } {
    const req = inviteRequestSchema.parse(input);
    const code = `HL-${toB64u(randomBytes(18))}`;
    const now = this.clock.now();
    const expiresAt = now + req.ttlMs;
    this.store.transaction(() => {
      this.store.addInvite(inviteHash(code), req.state, req.role, req.name, now, expiresAt);
      this.audit.append('invite.created', { state: req.state, role: req.role, expiresAt }, now);
    });
    return { invite: code, state: req.state, role: req.role, expiresAt };
  }

  /** Opens a bilateral channel with its deadline table and escalation policy (defaults for what the request leaves out). */
  openChannel(input: z.input<typeof channelOpenRequestSchema>): ChannelInfo & { readonly escalation: EscalationPolicy } {
    const req = channelOpenRequestSchema.parse(input);
    if (req.a === req.b) throw new HotlineError('BAD_INPUT', 'a channel joins two different states');
    const id = `${req.a}-${req.b}`;
    if (this.store.getChannel(id) || this.store.getChannel(`${req.b}-${req.a}`)) throw new HotlineError('CONFLICT', `channel between ${req.a} and ${req.b} is already open`);
    const deadlines = deadlineTable(req.deadlines);
    const escalation: EscalationPolicy = req.escalation ?? defaultEscalationPolicy;
    const now = this.clock.now();
    this.store.transaction(() => {
      this.store.openChannel(id, req.a, req.b, deadlines, escalation, now);
      this.audit.append('channel.opened', { channel: id, deadlines, escalation }, now);
    });
    const channel = this.store.getChannel(id);
    if (!channel) throw new HotlineError('INTERNAL', 'channel vanished after opening');
    return { ...channel, escalation };
  }

  revoke(input: z.input<typeof revokeRequestSchema>): { kid: string; revokedAt: number } {
    const req = revokeRequestSchema.parse(input);
    const member = this.store.getMember(req.kid);
    if (!member) throw new HotlineError('NOT_FOUND', `no enrolled key ${req.kid}`);
    if (member.revokedAt !== null) throw new HotlineError('CONFLICT', `key was already revoked at ${new Date(member.revokedAt).toISOString()}`);
    const now = this.clock.now();
    this.store.transaction(() => {
      this.store.revokeMember(req.kid, now, req.reason);
      this.audit.append('revoked', { kid: req.kid, state: member.state, role: member.role, reason: req.reason }, now);
    });
    this.onRevoked(req.kid);
    return { kid: req.kid, revokedAt: now };
  }

  roster(): Roster {
    return {
      relay: { kid: this.relayKid, fingerprint: fingerprint(this.relayKid) },
      states: this.store.listStates().map((code) => ({
        code,
        members: this.store.membersOf(code).map((m) => ({
          kid: m.kid,
          fingerprint: fingerprint(m.kid),
          name: m.name,
          role: m.role,
          enrolledAt: m.enrolledAt,
          revokedAt: m.revokedAt,
        })),
      })),
      channels: this.store.listChannels(),
    };
  }

  /** Consumes a one-time invite: the key proves itself by signing the invite, and is enrolled under the invite's state and role. */
  join(input: unknown): JoinResponse {
    const req = joinRequestSchema.parse(input);
    if (!verifyStatement(req.kid, req.sig, JOIN_CTX, { invite: req.invite, kid: req.kid, name: req.name })) {
      throw new HotlineError('BAD_SIGNATURE', 'join request is not signed by the key it enrols');
    }
    const codeHash = inviteHash(req.invite);
    const invite = this.store.getInvite(codeHash);
    const now = this.clock.now();
    if (!invite) throw new HotlineError('INVITE_INVALID');
    if (invite.usedAt !== null) throw new HotlineError('INVITE_USED');
    if (now > invite.expiresAt) throw new HotlineError('INVITE_EXPIRED');
    if (this.store.getMember(req.kid)) throw new HotlineError('CONFLICT', 'this key is already enrolled');
    if (req.prekey) verifyPrekey(req.prekey, now, req.kid);
    const name = invite.name ?? req.name;
    this.store.transaction(() => {
      if (!this.store.useInvite(codeHash, req.kid, now)) throw new HotlineError('INVITE_USED');
      this.store.addMember({ kid: req.kid, state: invite.state, role: invite.role, name, enrolledAt: now });
      if (req.prekey) this.store.putPrekey(req.prekey, now);
      this.audit.append('enrolled', { kid: req.kid, state: invite.state, role: invite.role, name }, now);
    });
    return { kid: req.kid, state: invite.state, role: invite.role, name, relay: this.relayKid };
  }
}
