// Key ids are base64url, so one in 64 starts with "-": commander would take `hotline roster add -aM4B…` for an unknown
// option. Before parsing, such operands are moved behind a `--`, where commander reads everything as an operand.
import type { Command, Option } from 'commander';

/** A 32-byte key in base64url without padding (43 characters) that starts with a dash. */
const DASHED_KEY_ID = /^-[A-Za-z0-9_-]{42}$/;

function findOption(options: readonly Option[], token: string): Option | undefined {
  return options.find((o) => o.long === token || o.short === token);
}

/**
 * `argv` (as process.argv: node, script, then the user's words) with every operand that is a key id starting with "-"
 * placed after `--`, the other operands after it in their order, and the options before it. Unchanged when no such
 * operand is there, or when the user already wrote `--`.
 *
 * @example keyIdsAsOperands(['node', 'hotline', 'roster', 'add', '-aM4B…', '--role', 'poc'], program)
 *   // → ['node', 'hotline', 'roster', 'add', '--role', 'poc', '--', '-aM4B…']
 */
export function keyIdsAsOperands(argv: readonly string[], program: Command): string[] {
  const words = argv.slice(2);
  if (words.includes('--') || !words.some((w) => DASHED_KEY_ID.test(w))) return [...argv];
  // The command path (`roster add`): the options that take a value are those of every command on it.
  let command = program;
  const options: Option[] = [...program.options];
  let start = 0;
  while (start < words.length) {
    const next = command.commands.find((c) => c.name() === words[start] || c.aliases().includes(words[start] as string));
    if (!next) break;
    command = next;
    options.push(...next.options);
    start += 1;
  }
  const flags: string[] = [];
  const operands: string[] = [];
  let moved = false;
  for (let i = start; i < words.length; i += 1) {
    const word = words[i] as string;
    const option = word.startsWith('-') && !DASHED_KEY_ID.test(word) ? findOption(options, word.split('=')[0] as string) : undefined;
    if (option) {
      flags.push(word);
      // Its value comes next, whatever it looks like (commander does the same for a required value).
      if ((option.required || option.optional) && !word.includes('=') && i + 1 < words.length) flags.push(words[++i] as string);
    } else if (word.startsWith('-') && !DASHED_KEY_ID.test(word)) {
      flags.push(word); // an unknown option: left where it is for commander to refuse
    } else {
      if (DASHED_KEY_ID.test(word)) moved = true;
      operands.push(word);
    }
  }
  if (!moved) return [...argv];
  return [...argv.slice(0, 2), ...words.slice(0, start), ...flags, '--', ...operands];
}
