// The relay-signed manifest of an export bundle: when it was made, for which filter, up to which audit head, and exactly which envelopes and timing records it holds.
import { z } from 'zod';
import { HotlineError } from '../errors.ts';
import { signStatement, verifyStatement, type Identity } from '../identity.ts';
import { hashSchema, keyIdSchema, signatureSchema, timestampSchema, uuidSchema } from '../schemas.ts';

/** Signature context: sig = Ed25519(relay, canonical({ctx, relay, generatedAt, filter, head, checkpoint, envelopes, records})). */
export const MANIFEST_CTX = 'hotline-manifest-v1';

export const bundleManifestSchema = z.strictObject({
  relay: keyIdSchema,
  /** Relay time the bundle was made at: "not yet due" is judged against it. */
  generatedAt: timestampSchema,
  /** The filter after defaults (as in the bundle's `filter`). */
  filter: z.record(z.string(), z.unknown()),
  /** The last audit event in the bundle. */
  head: z.strictObject({ seq: z.number().int().min(1), hash: hashSchema }),
  /** seq of the last signed checkpoint in the bundle (null when none yet). */
  checkpoint: z.number().int().min(1).nullable(),
  /** Envelope hashes in scope, in audit order. */
  envelopes: z.array(hashSchema),
  /** Notice ids of the timing records, in the order of the bundle's records. */
  records: z.array(uuidSchema),
  sig: signatureSchema,
});
export type BundleManifest = z.infer<typeof bundleManifestSchema>;

export function signManifest(relay: Identity, fields: Omit<BundleManifest, 'sig' | 'relay'>): BundleManifest {
  const unsigned = { ...fields, relay: relay.kid };
  return { ...unsigned, sig: signStatement(relay, MANIFEST_CTX, unsigned) };
}

/** Throws BAD_SIGNATURE unless `relayKid` signed the manifest. */
export function verifyManifest(manifest: BundleManifest, relayKid: string): void {
  const { sig, ...unsigned } = manifest;
  if (manifest.relay !== relayKid) throw new HotlineError('BAD_SIGNATURE', 'the manifest is signed by another relay than the bundle names');
  if (!verifyStatement(relayKid, sig, MANIFEST_CTX, unsigned)) throw new HotlineError('BAD_SIGNATURE', 'the bundle manifest signature does not verify');
}
