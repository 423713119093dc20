// Template notices between real PoCs over a real relay: read in each side's language, refused outside the charter's catalogue, never in the relay's bytes.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildTemplateRef, catalogueHash, initCrypto, parseCatalogue, renderTemplateNotice, type Catalogue } from '../../shared/index.ts';
import type { HotlineClient } from '../../client/hotline-client.ts';
import type { MessageRecord } from '../../client/history.ts';
import { connectedClient, enrolPoc, until, type EnrolledPoc } from '../helpers/poc.ts';
import { RawPeer } from '../helpers/raw-peer.ts';
import { startTestRelay, tempDir, type TestRelay } from '../helpers/relay.ts';
import { chartered } from '../helpers/trust.ts';

const root = tempDir('templates');
let relay: TestRelay;
const clients: HotlineClient[] = [];
let catalogue: Catalogue;
let hash: string;

beforeAll(async () => {
  await initCrypto();
  catalogue = parseCatalogue(readFileSync(new URL('../../catalogues/default.json', import.meta.url), 'utf8'));
  hash = catalogueHash(catalogue);
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await relay?.dispose();
});

const connected = (poc: EnrolledPoc): Promise<HotlineClient> => connectedClient(clients, poc);

/** Every byte under a folder (the relay's SQLite files, WAL included). */
function allBytes(dir: string): Buffer {
  const parts: Buffer[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    parts.push(statSync(p).isDirectory() ? allBytes(p) : readFileSync(p));
  }
  return Buffer.concat(parts);
}

describe('template notices between PoCs', () => {
  it('US (en) sends an incident notification; CN reads it in Chinese and JP in Japanese, fields identical; the relay holds neither template nor fields', async () => {
    relay = await startTestRelay();
    const us = await enrolPoc(relay, { root, label: 'us', state: 'US', name: 'US CERT duty officer' });
    const cn = await enrolPoc(relay, { root, label: 'cn', state: 'CN', name: 'CN CERT duty officer' });
    const jp = await enrolPoc(relay, { root, label: 'jp', state: 'JP', name: 'JP CERT duty officer' });
    await chartered(relay, 'CN-US', [us, cn], { templates: hash });
    await chartered(relay, 'JP-US', [us, jp], { templates: hash });
    const [usc, cnc, jpc] = [await connected(us), await connected(cn), await connected(jp)];
    const got: MessageRecord[] = [];
    cnc.on('notice', (n) => got.push(n));
    jpc.on('notice', (n) => got.push(n));
    const fields = { type: 'availability', sector: 'drinking-water', detectedAt: '2026-12-03T09:40Z', summary: 'Pumping stations unreachable; SCADA-Zugang gesperrt', address: '203.0.113.0/24' };
    await usc.send({ toState: 'CN', level: 'IMMEDIATE', text: '', tlp: 'TLP:AMBER+STRICT', template: { id: 'incident-notification', fields } });
    await usc.send({ toState: 'JP', level: 'IMMEDIATE', text: '', template: { id: 'incident-notification', fields } });
    await until(() => got.length === 2);
    const [atCn, atJp] = [got.find((n) => n.toState === 'CN')!, got.find((n) => n.toState === 'JP')!];
    expect(atCn.template!.fields).toEqual(fields);
    expect(atJp.template!.fields).toEqual(fields);
    expect(atCn.tlp).toBe('TLP:AMBER+STRICT');
    expect(atJp.tlp).toBe('TLP:AMBER'); // the channel's default: the bound catalogue's defaultTlp
    const zh = renderTemplateNotice(catalogue, atCn.template!, atCn.tlp!, 'zh-Hans');
    const ja = renderTemplateNotice(catalogue, atJp.template!, atJp.tlp!, 'ja');
    expect(zh.template.title).toBe('事件通报');
    expect(zh.fields.find((f) => f.name === 'type')!.display).toBe('可用性破坏');
    expect(ja.template.title).toBe('インシデント通知');
    expect(ja.fields.find((f) => f.name === 'sector')!.display).toBe('飲料水');
    expect(zh.fields.map((f) => f.value)).toEqual(ja.fields.map((f) => f.value));
    // Kept in the history too, sealed like the text.
    expect(cnc.history.get(atCn.id)?.template?.fields).toEqual(fields);
    const stored = allBytes(relay.dataDir);
    for (const secret of ['incident-notification', 'drinking-water', 'SCADA-Zugang', '203.0.113.0', 'TLP:AMBER']) expect(stored.includes(secret)).toBe(false);
  });

  it('a malicious US peer sends a template outside the charter\'s catalogue: the CN client refuses it with the reason and shows nothing', async () => {
    relay = await startTestRelay();
    const us = await RawPeer.enrol(relay, 'US');
    const cn = await enrolPoc(relay, { root, label: 'cn2', state: 'CN', name: 'CN CERT duty officer' });
    await chartered(relay, 'CN-US', [us, cn], { templates: hash });
    const cnc = await connected(cn);
    const notices: string[] = [];
    const alarms: { code: string; message: string }[] = [];
    cnc.on('notice', (n) => notices.push(n.id));
    cnc.on('alarm', (a) => alarms.push(a));
    await us.connect(relay.url);
    // Only identity.kid and prekey.prekey of a RawPeer are read by envelope(): the real CN PoC's, from its keystore.
    const cnPeer = { identity: { kid: cn.keystore.identity.kid }, prekey: { prekey: cn.keystore.currentPrekey(Date.now()) } } as unknown as RawPeer;
    const good = buildTemplateRef(catalogue, hash, 'stand-down', { effectiveAt: '2026-12-03T12:00Z' });
    // An "ultimatum" template neither state agreed on, and a real template re-numbered: both refused.
    const forged = [{ ...good, id: 'ultimatum', fields: { effectiveAt: '2026-12-03T12:00Z' } }, { ...good, catalogue: 'B'.repeat(43) }];
    for (const template of forged) {
      const env = us.envelope([cnPeer], { channel: 'CN-US', toState: 'CN' }, '', { subject: null, text: '', tlp: 'TLP:GREEN', template });
      expect((await us.submit(env)).type).toBe('accepted');
    }
    const ok = us.envelope([cnPeer], { channel: 'CN-US', toState: 'CN' }, '', { subject: null, text: '', tlp: 'TLP:GREEN', template: good });
    expect((await us.submit(ok)).type).toBe('accepted');
    await until(() => notices.length === 1 && alarms.length >= 2);
    us.close();
    expect(notices).toEqual([ok.header.id]);
    expect(alarms.map((a) => a.code)).toEqual(['TEMPLATE_REFUSED', 'TEMPLATE_REFUSED']);
    expect(alarms[0]!.message).toMatch(/"ultimatum" is not in the channel's catalogue hotline-default v1/);
    expect(alarms[1]!.message).toMatch(/not the catalogue the charter binds/);
  });
});

describe('drill injects', () => {
  it('a scenario inject may name a template and its fields instead of text', async () => {
    const { parseScenario } = await import('../../client/drill/scenario.ts');
    const s = parseScenario('drill: "Grid"\nparticipants: [US, CN]\ninjects:\n  - {at: 0s, to: CN, level: FLASH, tlp: "TLP:GREEN", template: {id: stand-down, fields: {effectiveAt: "2026-12-03T12:00Z"}}}\n', 'grid.yaml');
    expect(s.injects[0]).toMatchObject({ text: '', tlp: 'TLP:GREEN', template: { id: 'stand-down', fields: { effectiveAt: '2026-12-03T12:00Z' } } });
    expect(() => parseScenario('drill: "Grid"\nparticipants: [US, CN]\ninjects:\n  - {at: 0s, to: CN, level: FLASH}\n', 'grid.yaml')).toThrow(/text/);
  });
});
