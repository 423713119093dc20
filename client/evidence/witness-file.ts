// Witness files: the statements a PoC signed about the relays' audit heads, read from its HOTLINE_HOME or from an exported `hotline-witness-v1` file.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { HotlineError, keyIdSchema, stateCodeSchema, verifyWitness, witnessStatementSchema, type WitnessStatement } from '../../shared/index.ts';
import { writeFileAtomic } from '../authority/atomic-file.ts';
import { HistoryStore } from '../history.ts';
import { readProfile } from '../profile.ts';

export const WITNESS_FILE_FORMAT = 'hotline-witness-v1';

export const witnessFileSchema = z.strictObject({
  format: z.literal(WITNESS_FILE_FORMAT),
  /** The PoC that signed the statements. */
  kid: keyIdSchema,
  state: stateCodeSchema,
  statements: z.array(witnessStatementSchema),
});
export type WitnessFile = z.infer<typeof witnessFileSchema>;

/**
 * Every witness statement this PoC signed (in the history of HOTLINE_HOME `home`), ordered by relay and audit seq.
 * Empty when the home holds no history yet.
 *
 * @example readWitnessStatements(process.env.HOTLINE_HOME ?? '~/.hotline').filter((s) => s.relay === relayKid)
 */
export function readWitnessStatements(home: string): WitnessStatement[] {
  const path = join(home, 'history.db');
  if (!existsSync(path)) return [];
  const history = new HistoryStore(path);
  try {
    return history.witnesses().map((w) => witnessStatementSchema.parse(w.statement));
  } finally {
    history.close();
  }
}

/** The export document of a HOTLINE_HOME: `{format, kid, state, statements}`. Throws NO_IDENTITY without a joined profile. */
export function witnessFileOf(home: string): WitnessFile {
  const profile = readProfile(home);
  if (!profile?.state) throw new HotlineError('NO_IDENTITY', `${home} holds no joined identity (profile.json with a state)`);
  return { format: WITNESS_FILE_FORMAT, kid: profile.kid, state: profile.state, statements: readWitnessStatements(home) };
}

/** Writes an exported witness file at `path` atomically, 0600 whatever the umask (it names this PoC's relays and times). */
export function writeWitnessFile(path: string, file: WitnessFile): void {
  writeFileAtomic(path, JSON.stringify(file, null, 2) + '\n', 'replace');
}

/**
 * The statements of a witness file (its JSON text, or the parsed value), each signature checked.
 * Throws BAD_INPUT when it is not a `hotline-witness-v1` file, BAD_SIGNATURE when a statement does not verify.
 */
export function parseWitnessFile(json: unknown): WitnessStatement[] {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (cause) {
      throw new HotlineError('BAD_INPUT', 'the witness file is not JSON', { cause });
    }
  }
  const parsed = witnessFileSchema.safeParse(value);
  if (!parsed.success) throw new HotlineError('BAD_INPUT', `not a ${WITNESS_FILE_FORMAT} file: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`);
  for (const s of parsed.data.statements) verifyWitness(s);
  return parsed.data.statements;
}
