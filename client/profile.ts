// The non-secret profile in HOTLINE_HOME: who this identity is on which relays (state, role, pinned relay keys).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { keyIdSchema, nameSchema, roleSchema, stateCodeSchema, HotlineError } from '../shared/index.ts';
import { writeFileAtomic } from './authority/atomic-file.ts';

export const profileSchema = z.strictObject({
  v: z.literal(1),
  kid: keyIdSchema,
  name: nameSchema,
  state: stateCodeSchema.nullable(),
  role: roleSchema.nullable(),
  relays: z.array(z.strictObject({ url: z.string().min(1), kid: keyIdSchema })),
  /** This PoC's own state authority, pinned at join by the fingerprint handed over in person (kid once first seen). */
  authority: z.strictObject({ fingerprint: z.string().regex(/^\d{30}$/), kid: keyIdSchema.nullable() }).nullable().optional(),
});
export type Profile = z.infer<typeof profileSchema>;

const PROFILE_NAME = 'profile.json';

export function readProfile(home: string): Profile | null {
  const path = join(home, PROFILE_NAME);
  if (!existsSync(path)) return null;
  const parsed = profileSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new HotlineError('BAD_INPUT', `${path} is damaged: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

/** Writes profile.json atomically, 0600 whatever the umask (client/authority/atomic-file.ts). */
export function writeProfile(home: string, profile: Profile): void {
  writeFileAtomic(join(home, PROFILE_NAME), JSON.stringify(profileSchema.parse(profile), null, 2) + '\n', 'replace', `the profile in ${home}`);
}
