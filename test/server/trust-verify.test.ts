// The offline verifier against a relay that holds its own key: signers checked against the signed rosters,
// deadlines against the charter, authorities against the pins — an edited bundle that re-signs everything fails.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  signManifest,
  createIdentity,
  fingerprint,
  initCrypto,
  signReceipt,
  signRoster,
  verifyReviewBundle,
  type AuditEvent,
  type ReviewBundle,
  type RosterBody,
} from '../../shared/index.ts';
import { buildReviewBundle } from '../../server/review-export.ts';
import { resignBundle } from '../helpers/resign.ts';
import { enrolPoc, pocClient } from '../helpers/poc.ts';
import { startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { chartered, testAuthority } from '../helpers/trust.ts';

const FIVE_MIN = 5 * 60_000;
let relay: TestRelay;
let bundle: ReviewBundle;
let flashId = '';
const pins = () => ({ US: fingerprint(testAuthority('US').kid), CN: fingerprint(testAuthority('CN').kid) });

beforeAll(async () => {
  await initCrypto();
  relay = await startTestRelay();
  const root = tempDir('trust-verify');
  const us = await enrolPoc(relay, { root, label: 'us', state: 'US', name: 'US duty officer' });
  const cn = await enrolPoc(relay, { root, label: 'cn', state: 'CN', name: 'CN duty officer' });
  await chartered(relay, 'US-CN', [us, cn], { deadlines: { FLASH: FIVE_MIN } });
  const usClient = pocClient(us, { reconnect: false });
  const cnClient = pocClient(cn, { reconnect: false });
  await usClient.connect();
  await cnClient.connect();
  const sent = await usClient.send({ toState: 'CN', level: 'FLASH', text: 'Scanning' });
  flashId = sent.id;
  for (let i = 0; i < 100 && !cnClient.history.has(sent.id); i++) await new Promise((r) => setTimeout(r, 20));
  await cnClient.ack(sent.id, 'seen');
  await cnClient.settle();
  usClient.close();
  cnClient.close();
  relay.context.acceptContext.audit.checkpointIfDue(true);
  bundle = buildReviewBundle(relay.store.db, {}, Date.now(), { kid: relay.identity.kid, sign: (fields) => signManifest(relay.identity, fields) });
});
afterAll(() => relay?.dispose());

/** What an operator holding relay.key can do: rewrite events, then re-sign everything the relay signs. */
function resign(b: ReviewBundle, edit: (events: AuditEvent[]) => void): ReviewBundle {
  return resignBundle(b, relay.identity, (copy) => edit(copy.audit.events));
}

describe('hotline verify and the trust documents', () => {
  it('passes the honest bundle with both authorities pinned, and reports them', () => {
    const summary = verifyReviewBundle(bundle, { relayKid: relay.identity.kid, authorities: pins() });
    expect(summary.authorities.US).toMatchObject({ pinned: true, kid: testAuthority('US').kid });
    expect(summary.unchartered).toBe(0);
    expect(bundle.trust.charters.length).toBe(1);
  });

  it('fails when a pinned authority is not the one the charters name', () => {
    expect(() => verifyReviewBundle(bundle, { relayKid: relay.identity.kid, authorities: { ...pins(), CN: fingerprint(createIdentity().kid) } })).toThrow(/pinned/);
  });

  it('fails a re-signed bundle whose FLASH deadline the relay stretched to 24 h', () => {
    const stretched = resign(bundle, (events) => {
      // The PoCs' witness statements in the chain would give the rewrite away: the operator drops them as well.
      events.splice(0, events.length, ...events.filter((x) => x.type !== 'witness'));
      const e = events.find((x) => x.type === 'envelope.notice' && x.data.id === flashId) as AuditEvent;
      e.data = { ...e.data, ackDeadline: e.at + 24 * 3600_000 };
    });
    const notice = stretched.envelopes.find((e) => e.header.id === flashId);
    if (!notice) throw new Error('no notice');
    const event = stretched.audit.events.find((x) => x.type === 'envelope.notice' && x.data.id === flashId) as AuditEvent;
    notice.receipt = signReceipt(relay.identity, { id: notice.receipt.id, hash: notice.receipt.hash, acceptedAt: notice.receipt.acceptedAt, auditSeq: event.seq, ackDeadline: event.at + 24 * 3600_000, auditHash: event.hash });
    for (const r of stretched.records) if (r.id === flashId) r.ackDeadline = event.at + 24 * 3600_000;
    // Everything the relay signs agrees with itself; only the charter, which it cannot sign, disagrees.
    expect(() => verifyReviewBundle(stretched, { relayKid: relay.identity.kid, authorities: pins() })).toThrow(/charter gives/);
  });

  it('fails a bundle whose CN roster the operator re-signed with a key of its own', () => {
    const edited = structuredClone(bundle) as ReviewBundle;
    const operator = createIdentity();
    const cnRoster = edited.trust.rosters.find((r) => (r as { roster: { state: string } }).roster.state === 'CN') as { roster: RosterBody };
    if (!cnRoster?.roster) throw new Error('no CN roster');
    const forged = signRoster(operator, { ...cnRoster.roster, authority: operator.kid });
    edited.trust.rosters = edited.trust.rosters.map((r) => ((r as { roster: { state: string } }).roster.state === 'CN' ? (forged as unknown as Record<string, unknown>) : r));
    expect(() => verifyReviewBundle(edited, { relayKid: relay.identity.kid })).toThrow(/roster of CN/);
  });

  it('fails a bundle that leaves the rosters out, so that signers cannot be checked', () => {
    const edited = structuredClone(bundle) as ReviewBundle;
    edited.trust.rosters = [];
    expect(() => verifyReviewBundle(edited, { relayKid: relay.identity.kid })).toThrow(/roster/);
  });
});
