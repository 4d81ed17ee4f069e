/**
 * The repository's Dockerfile as stages of instructions, parsed with dockerfile-ast (the parser
 * behind the Dockerfile language server), for the structure checks in test/deploy and for the
 * build replay in scripts/container-replay.mjs.
 */
import { readFileSync } from 'node:fs';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';

export interface DockerInstruction {
  /** Upper case: FROM, RUN, COPY, … */
  readonly keyword: string;
  /** The arguments after the flags, as the parser splits them (JSON form: the strings). */
  readonly args: readonly string[];
  /** --name=value flags (COPY --from, HEALTHCHECK --interval, …). */
  readonly flags: Readonly<Record<string, string>>;
  /** Everything after the keyword and its flags, line continuations joined. */
  readonly text: string;
  /** 1-based line of the keyword, for messages. */
  readonly line: number;
}

export interface DockerStage {
  /** The `AS` name, or the stage's index as a string. */
  readonly name: string;
  readonly base: string;
  readonly instructions: readonly DockerInstruction[];
}

function flagsOf(instruction: Instruction): Record<string, string> {
  const out: Record<string, string> = {};
  const withFlags = instruction as Instruction & { getFlags?: () => { getName(): string; getValue(): string | null }[] };
  for (const f of withFlags.getFlags?.() ?? []) out[f.getName()] = f.getValue() ?? '';
  return out;
}

function argsOf(instruction: Instruction): string[] {
  const json = instruction as Instruction & { getJSONStrings?: () => { getJSONValue(): string }[] };
  const strings = json.getJSONStrings?.() ?? [];
  if (strings.length > 0) return strings.map((s) => s.getJSONValue());
  // The exec form with no strings (`CMD []`), which the parser reports as the argument "[]".
  if (/^\[\s*\]$/.test((instruction.getRawArgumentsContent() ?? '').trim())) return [];
  return instruction.getArguments().map((a) => a.getValue());
}

/** Text after the keyword and its flags, continuation lines joined with single spaces. */
function textOf(instruction: Instruction, flags: Record<string, string>): string {
  let text = (instruction.getRawArgumentsContent() ?? '').replace(/\\\r?\n/g, ' ').replace(/\s+/g, ' ').trim();
  for (const [name, value] of Object.entries(flags)) text = text.replace(`--${name}=${value}`, '').trim();
  return text;
}

export function parseDockerfile(content: string): DockerStage[] {
  const stages: { name: string; base: string; instructions: DockerInstruction[] }[] = [];
  for (const instruction of DockerfileParser.parse(content).getInstructions()) {
    const keyword = instruction.getKeyword().toUpperCase();
    const flags = flagsOf(instruction);
    const args = argsOf(instruction);
    const entry: DockerInstruction = { keyword, args, flags, text: textOf(instruction, flags), line: instruction.getRange().start.line + 1 };
    if (keyword === 'FROM') {
      const as = args.findIndex((a) => a.toUpperCase() === 'AS');
      stages.push({ name: as >= 0 ? (args[as + 1] ?? String(stages.length)) : String(stages.length), base: args[0] ?? '', instructions: [entry] });
    } else {
      const stage = stages.at(-1);
      if (stage === undefined) throw new Error(`line ${entry.line}: ${keyword} before the first FROM`);
      stage.instructions.push(entry);
    }
  }
  return stages;
}

export function readDockerfile(path: string): DockerStage[] {
  return parseDockerfile(readFileSync(path, 'utf8'));
}

/** The instructions of one kind in a stage. */
export function instructionsOf(stage: DockerStage, keyword: string): DockerInstruction[] {
  return stage.instructions.filter((i) => i.keyword === keyword);
}

/** HEALTHCHECK's command as a shell would run it: `CMD <shell form>` or `CMD ["exec", "form"]`. */
export function healthcheckCommand(healthcheck: DockerInstruction): { readonly shell: string } | { readonly exec: readonly string[] } {
  const m = /^CMD\s+(.*)$/i.exec(healthcheck.text);
  if (m === null) throw new Error(`line ${healthcheck.line}: HEALTHCHECK without CMD`);
  const rest = (m[1] ?? '').trim();
  if (rest.startsWith('[')) return { exec: JSON.parse(rest) as string[] };
  return { shell: rest };
}
