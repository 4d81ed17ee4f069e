/**
 * The CLI synopses in README.md and clients/cli/README.md name every option each command really
 * has (from the CLI's own --help), and no option it does not have.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { cliInProcess } from '../../helpers/cli-in-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Commands whose synopsis lists options, as typed after `bledfu`. */
const COMMANDS = [
  ['scan'],
  ['inventory'],
  ['connect'],
  ['dfu'],
  ['jobs', 'list'],
  ['audit'],
  ['health'],
  ['campaign', 'start'],
  ['campaign', 'list'],
  ['campaign', 'stop'],
] as const;

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort();

async function optionsOf(command: readonly string[]): Promise<string[]> {
  const r = await cliInProcess([...command, '--help']);
  assert.equal(r.code, 0, r.stderr);
  const options = r.stdout.slice(r.stdout.indexOf('Options:'));
  return sorted([...options.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1] as string).filter((o) => o !== '--help'));
}

/**
 * The synopsis of `command` in a document's synopsis block (the code block listing the commands): its
 * line and the indented lines continuing it, up to a `|` that starts another command or a comment.
 */
function synopsisOf(doc: string, command: readonly string[]): string {
  // The synopsis is the fenced block listing both `bledfu ports` and `bledfu scan`.
  const block = doc.split('```').find((piece) => /\nbledfu ports\b/.test(piece) && /\nbledfu scan /.test(piece));
  assert.ok(block !== undefined, 'no synopsis block');
  const lines = block.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`bledfu ${command.join(' ')}`));
  assert.ok(start >= 0, `no synopsis of bledfu ${command.join(' ')}`);
  let text = lines[start] as string;
  for (let i = start + 1; i < lines.length && /^ {5,}\[/.test(lines[i] as string); i++) text += ` ${lines[i] as string}`;
  // `jobs list [--active] | jobs show <id> | …`: only up to the next subcommand; no trailing comment.
  return (text.split(/\s\|\s(?=jobs )/)[0] as string).split(/\s#\s/)[0] as string;
}

for (const file of ['README.md', 'clients/cli/README.md']) {
  describe(`CLI synopsis in ${file}`, () => {
    const doc = readFileSync(join(ROOT, file), 'utf8');
    for (const command of COMMANDS) {
      it(`bledfu ${command.join(' ')}: every option, and only those`, async () => {
        const documented = sorted([...synopsisOf(doc, command).matchAll(/(--[a-z][a-z-]*)/g)].map((m) => m[1] as string));
        assert.deepEqual(documented, await optionsOf(command));
      });
    }
  });
}
