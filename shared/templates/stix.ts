// STIX 2.1 bundle checks (structure, ids type--uuid, object types, required properties) and the indicator table shown to readers.
import { HotlineError } from '../errors.ts';

/** STIX Domain, Cyber-observable and Relationship object types of STIX 2.1 accepted in a bundle. */
const stixTypes = new Set([
  'attack-pattern', 'campaign', 'course-of-action', 'grouping', 'identity', 'incident', 'indicator', 'infrastructure',
  'intrusion-set', 'location', 'malware', 'malware-analysis', 'note', 'observed-data', 'opinion', 'report', 'threat-actor',
  'tool', 'vulnerability', 'relationship', 'sighting', 'marking-definition', 'language-content', 'extension-definition',
  'artifact', 'autonomous-system', 'directory', 'domain-name', 'email-addr', 'email-message', 'file', 'ipv4-addr',
  'ipv6-addr', 'mac-addr', 'mutex', 'network-traffic', 'process', 'software', 'url', 'user-account',
  'windows-registry-key', 'x509-certificate',
]);
const cyberObservables = new Set(['artifact', 'autonomous-system', 'directory', 'domain-name', 'email-addr', 'email-message', 'file', 'ipv4-addr', 'ipv6-addr', 'mac-addr', 'mutex', 'network-traffic', 'process', 'software', 'url', 'user-account', 'windows-registry-key', 'x509-certificate']);
/** Properties each SDO/SRO type requires beyond the common ones (STIX 2.1, section 4 and 5). */
const required: Record<string, readonly string[]> = {
  indicator: ['pattern', 'pattern_type', 'valid_from'],
  malware: ['is_family'],
  relationship: ['relationship_type', 'source_ref', 'target_ref'],
  sighting: ['sighting_of_ref'],
  report: ['name', 'published', 'object_refs'],
  'attack-pattern': ['name'], campaign: ['name'], 'course-of-action': ['name'], identity: ['name'], 'intrusion-set': ['name'],
  'threat-actor': ['name'], tool: ['name'], vulnerability: ['name'], infrastructure: ['name'], incident: ['name'],
  grouping: ['context', 'object_refs'], note: ['content', 'object_refs'], opinion: ['opinion', 'object_refs'],
  'observed-data': ['first_observed', 'last_observed', 'number_observed'],
};
const idPattern = /^([a-z][a-z0-9-]*[a-z0-9])--[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timestampPattern = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const maxObjects = 500;

export interface StixIndicatorRow {
  readonly id: string;
  readonly name: string | null;
  readonly patternType: string;
  readonly pattern: string;
  readonly validFrom: string;
}

function bad(field: string, message: string): never {
  throw new HotlineError('BAD_TEMPLATE_FIELD', `STIX bundle: ${field}: ${message}`, { detail: { field } });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates a STIX 2.1 bundle (JSON text or value); BAD_TEMPLATE_FIELD names the first wrong field, e.g. objects[2].pattern. */
export function validateStixBundle(input: string | unknown): { objects: readonly Record<string, unknown>[]; indicators: readonly StixIndicatorRow[] } {
  let value: unknown = input;
  if (typeof input === 'string') {
    try { value = JSON.parse(input); } catch { bad('(bundle)', 'not JSON'); }
  }
  if (!isRecord(value)) bad('(bundle)', 'must be a JSON object');
  if (value.type !== 'bundle') bad('type', 'must be "bundle"');
  if (typeof value.id !== 'string' || !idPattern.test(value.id) || !value.id.startsWith('bundle--')) bad('id', 'must be bundle--<UUID>');
  if (!Array.isArray(value.objects) || value.objects.length === 0) bad('objects', 'must be a non-empty list');
  if (value.objects.length > maxObjects) bad('objects', `at most ${maxObjects} objects`);
  const ids = new Set<string>();
  const objects = value.objects as unknown[];
  const indicators: StixIndicatorRow[] = [];
  objects.forEach((o, i) => {
    const at = (p: string) => `objects[${i}].${p}`;
    if (!isRecord(o)) bad(`objects[${i}]`, 'must be an object');
    if (typeof o.type !== 'string' || !stixTypes.has(o.type)) bad(at('type'), `"${String(o.type)}" is not a STIX 2.1 object type`);
    if (typeof o.id !== 'string' || !idPattern.test(o.id)) bad(at('id'), 'must be <type>--<UUID>');
    if (o.id.split('--')[0] !== o.type) bad(at('id'), `the id's type prefix must be ${o.type}`);
    if (ids.has(o.id)) bad(at('id'), 'listed twice');
    ids.add(o.id);
    if (!cyberObservables.has(o.type) && o.type !== 'marking-definition') {
      if (o.spec_version !== '2.1') bad(at('spec_version'), 'must be "2.1"');
      for (const p of ['created', 'modified']) if (typeof o[p] !== 'string' || !timestampPattern.test(o[p])) bad(at(p), 'must be a UTC timestamp (YYYY-MM-DDTHH:MM:SS[.s]Z)');
    }
    for (const p of required[o.type] ?? []) if (o[p] === undefined || o[p] === '' || o[p] === null) bad(at(p), `required for ${o.type}`);
    if (o.type === 'indicator') {
      if (typeof o.pattern !== 'string') bad(at('pattern'), 'must be a string');
      if (typeof o.pattern_type !== 'string') bad(at('pattern_type'), 'must be a string');
      if (typeof o.valid_from !== 'string' || !timestampPattern.test(o.valid_from)) bad(at('valid_from'), 'must be a UTC timestamp');
      if (o.pattern_type === 'stix' && !/^\s*\[.*\]\s*$/s.test(o.pattern)) bad(at('pattern'), 'a STIX pattern is written in brackets, e.g. [ipv4-addr:value = \'198.51.100.1\']');
      indicators.push({ id: o.id, name: typeof o.name === 'string' ? o.name : null, patternType: o.pattern_type, pattern: o.pattern, validFrom: o.valid_from });
    }
    for (const p of ['source_ref', 'target_ref', 'sighting_of_ref', 'created_by_ref']) {
      if (o[p] !== undefined && (typeof o[p] !== 'string' || !idPattern.test(o[p]))) bad(at(p), 'must be <type>--<UUID>');
    }
    if (o.object_refs !== undefined && (!Array.isArray(o.object_refs) || o.object_refs.some((r) => typeof r !== 'string' || !idPattern.test(r)))) bad(at('object_refs'), 'must be a list of <type>--<UUID>');
  });
  return { objects: objects as Record<string, unknown>[], indicators };
}
