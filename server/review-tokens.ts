// Reviewer bearer tokens: minted for an enrolled reviewer key that signs a fresh request (or by the admin), kept hashed in memory, checked on every /v1/review call.
import {
  adminReviewTokenRequestSchema,
  hash,
  HotlineError,
  randomBytes,
  REVIEW_TOKEN_CTX,
  REVIEW_TOKEN_SKEW_MS,
  REVIEW_TOKEN_TTL_MS,
  reviewTokenRequestSchema,
  toB64u,
  utf8,
  verifyStatement,
  type ReviewTokenResponse,
} from '../shared/index.ts';
import type { AuditLog } from './audit-log.ts';
import type { Clock } from './clock.ts';
import type { RelayStore } from './store.ts';

/** Who a token was minted for: a reviewer key, or the operator (kid null). */
export interface ReviewGrant {
  readonly kid: string | null;
  readonly name: string;
  readonly expiresAt: number;
}

function tokenHash(token: string): string {
  return toB64u(hash(utf8('hotline-review-token-hash-v1'), utf8(token)));
}

/**
 * Tokens live only in memory (a relay restart signs every reviewer out) and only as hashes. A token minted for a
 * reviewer key stops working as soon as that key is revoked. Every mint is an audit event.
 */
export class ReviewTokens {
  private readonly grants = new Map<string, ReviewGrant>();
  /** Signatures of token requests already used, until they could no longer pass the freshness check. */
  private readonly usedRequests = new Map<string, number>();

  constructor(
    private readonly store: RelayStore,
    private readonly audit: AuditLog,
    private readonly clock: Clock,
    private readonly relayKid: string,
  ) {}

  /** A reviewer proves its key by signing {kid, at, relay} with REVIEW_TOKEN_CTX; `at` must be within 2 minutes of the relay clock. */
  mintForReviewer(input: unknown): ReviewTokenResponse {
    const req = reviewTokenRequestSchema.parse(input);
    const now = this.clock.now();
    this.prune(now);
    if (Math.abs(now - req.at) > REVIEW_TOKEN_SKEW_MS) {
      throw new HotlineError('UNAUTHORIZED', 'token request is stale or from the future: check this computer\'s clock, then ask again');
    }
    if (!verifyStatement(req.kid, req.sig, REVIEW_TOKEN_CTX, { kid: req.kid, at: req.at, relay: this.relayKid })) {
      throw new HotlineError('BAD_SIGNATURE', 'token request is not signed by the key it names (or was meant for another relay)');
    }
    if (this.usedRequests.has(req.sig)) throw new HotlineError('UNAUTHORIZED', 'this token request was already used; sign a new one');
    const member = this.store.getMember(req.kid);
    if (!member) throw new HotlineError('UNKNOWN_KEY', 'this key is not enrolled on the relay: join with a reviewer invite first');
    if (member.revokedAt !== null) throw new HotlineError('REVOKED_KEY');
    if (member.role !== 'reviewer') throw new HotlineError('FORBIDDEN', `this key is a ${member.role}; only reviewer keys get reviewer tokens`);
    this.usedRequests.set(req.sig, req.at + REVIEW_TOKEN_SKEW_MS);
    return this.mint({ kid: member.kid, name: member.name, expiresAt: now + REVIEW_TOKEN_TTL_MS });
  }

  /** The operator mints a token directly (behind the admin token). */
  mintForAdmin(input: unknown): ReviewTokenResponse {
    const req = adminReviewTokenRequestSchema.parse(input ?? {});
    const now = this.clock.now();
    this.prune(now);
    return this.mint({ kid: null, name: req.name ?? 'minted by the relay operator', expiresAt: now + (req.ttlMs ?? REVIEW_TOKEN_TTL_MS) });
  }

  private mint(grant: ReviewGrant): ReviewTokenResponse {
    const token = `HLR-${toB64u(randomBytes(32))}`;
    this.store.transaction(() => {
      this.audit.append('review.token', { kid: grant.kid, name: grant.name, expiresAt: grant.expiresAt });
    });
    this.grants.set(tokenHash(token), grant);
    return { token, expiresAt: grant.expiresAt };
  }

  /** The grant behind a bearer token; throws UNAUTHORIZED when it is missing, unknown, expired or its key was revoked. */
  check(token: string | undefined): ReviewGrant {
    if (!token) throw new HotlineError('UNAUTHORIZED', 'reviewer token missing: send Authorization: Bearer TOKEN (hotline review token mints one)');
    const key = tokenHash(token);
    const grant = this.grants.get(key);
    const now = this.clock.now();
    if (!grant) throw new HotlineError('UNAUTHORIZED', 'reviewer token is not valid on this relay: mint a new one with hotline review token');
    if (now >= grant.expiresAt) {
      this.grants.delete(key);
      throw new HotlineError('UNAUTHORIZED', 'reviewer token has expired: mint a new one with hotline review token');
    }
    if (grant.kid !== null && this.store.getMember(grant.kid)?.revokedAt !== null) {
      this.grants.delete(key);
      throw new HotlineError('UNAUTHORIZED', 'the reviewer key behind this token was revoked');
    }
    return grant;
  }

  private prune(now: number): void {
    for (const [key, grant] of this.grants) if (now >= grant.expiresAt) this.grants.delete(key);
    for (const [sig, until] of this.usedRequests) if (now > until) this.usedRequests.delete(sig);
  }
}
