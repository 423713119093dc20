// Confusable-name skeletons (Unicode UTS #39, section 4): two names with one skeleton look alike to a person.
import unhomoglyph from 'unhomoglyph';

/** Code points that render as nothing (zero-width spaces and joiners, bidi marks): they never tell two names apart. */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;
const SPACES = /\s+/gu;

/**
 * The UTS #39 skeleton of a display name: NFD, each character replaced by its prototype from the Unicode
 * confusables table (shipped by the `unhomoglyph` package), NFD again. Invisible characters are dropped and
 * runs of white space count as one space first, since neither changes what a person reads.
 * @example nameSkeleton('CN CERT duty оfficer') === nameSkeleton('CN CERT duty officer') // Cyrillic о
 */
export function nameSkeleton(name: string): string {
  const visible = name.normalize('NFD').replace(INVISIBLE, '').replace(SPACES, ' ').trim();
  return unhomoglyph(visible).normalize('NFD');
}

/** True when a person could take one name for the other. */
export function namesLookAlike(a: string, b: string): boolean {
  return nameSkeleton(a) === nameSkeleton(b);
}

/** The first pair of look-alike names in `names` (by index), or null when every name is distinct to the eye. */
export function findLookAlike(names: readonly string[]): [number, number] | null {
  const seen = new Map<string, number>();
  for (const [i, name] of names.entries()) {
    const skeleton = nameSkeleton(name);
    const earlier = seen.get(skeleton);
    if (earlier !== undefined) return [earlier, i];
    seen.set(skeleton, i);
  }
  return null;
}
