// The few relay frames the load generator reads, narrowed from `unknown` by hand (zod on every frame would load the generator).

export type WireFrame =
  | { readonly type: 'challenge'; readonly nonce: string; readonly relay: string }
  | { readonly type: 'welcome' }
  | { readonly type: 'accepted'; readonly rid: string; readonly ackDeadline: number | null }
  | { readonly type: 'deliver'; readonly id: string }
  | { readonly type: 'error'; readonly rid: string | null; readonly code: string; readonly message: string }
  | { readonly type: 'event'; readonly kind: string; readonly at: number; readonly data: Record<string, unknown> }
  | { readonly type: 'other'; readonly name: string };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** The envelope id of a `send` or `deliver` frame (also an MQTT payload, which is the `send` frame itself). */
export function envelopeIdOf(frame: Record<string, unknown>): string | null {
  const envelope = frame.envelope;
  if (!isRecord(envelope) || !isRecord(envelope.header)) return null;
  return str(envelope.header.id);
}

/** Parses one text frame; null when it is not JSON or not an object. */
export function readFrame(text: string): WireFrame | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(raw)) return null;
  switch (raw.type) {
    case 'challenge':
      return { type: 'challenge', nonce: str(raw.nonce) ?? '', relay: str(raw.relay) ?? '' };
    case 'welcome':
      return { type: 'welcome' };
    case 'accepted': {
      const receipt = isRecord(raw.receipt) ? raw.receipt : {};
      return { type: 'accepted', rid: str(raw.rid) ?? '', ackDeadline: typeof receipt.ackDeadline === 'number' ? receipt.ackDeadline : null };
    }
    case 'deliver': {
      const id = envelopeIdOf(raw);
      return id === null ? null : { type: 'deliver', id };
    }
    case 'error':
      return { type: 'error', rid: str(raw.rid), code: str(raw.code) ?? 'UNKNOWN', message: str(raw.message) ?? '' };
    case 'event': {
      const event = isRecord(raw.event) ? raw.event : {};
      return {
        type: 'event',
        kind: str(event.kind) ?? '',
        at: typeof event.at === 'number' ? event.at : Number.NaN,
        data: isRecord(event.data) ? event.data : {},
      };
    }
    default:
      return { type: 'other', name: String(raw.type) };
  }
}
