/** `berth dockerfile parse [FILE]`: the parsed Dockerfile as JSON, for tools and editors. */
import { readFile } from 'node:fs/promises';
import { parseDockerfile } from './dockerfile.js';
import { chompHeredocContent, type DockerfileNode } from './parser.js';

export interface InstructionJSON {
  instruction: string;
  flags: string[];
  args: string[];
  /** Exec (JSON array) form. */
  json: boolean;
  heredocs: { name: string; content: string; expand: boolean; chomp: boolean }[];
  startLine: number;
  endLine: number;
  /** ONBUILD's trigger. */
  subcommand?: { instruction: string; flags: string[]; args: string[]; json: boolean };
}

export function nodeToJSON(node: DockerfileNode): InstructionJSON {
  const out: InstructionJSON = {
    instruction: node.instruction,
    flags: [...node.flags],
    args: [...node.args],
    json: node.json,
    heredocs: node.heredocs.map((h) => ({
      name: h.name,
      content: h.chomp ? chompHeredocContent(h.content) : h.content,
      expand: h.expand,
      chomp: h.chomp,
    })),
    startLine: node.startLine,
    endLine: node.endLine,
  };
  if (node.subcommand) {
    const s = node.subcommand;
    out.subcommand = { instruction: s.instruction, flags: [...s.flags], args: [...s.args], json: s.json };
  }
  return out;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const USAGE = 'Usage:  berth dockerfile parse [FILE]\n\nPrint the parsed Dockerfile as JSON (FILE defaults to ./Dockerfile, "-" reads stdin)\n';

/**
 * Runs `berth dockerfile parse [FILE]`. Prints {"directives": {...}, "instructions": [...]}
 * to `out`; on a Dockerfile Docker would refuse prints Docker's message to `err` and returns 1.
 */
export async function runDockerfileParse(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const positional = args.filter((a) => a === '-' || !a.startsWith('-'));
  if (args.includes('--help') || args.includes('-h')) {
    out.write(USAGE);
    return 0;
  }
  const unknown = args.find((a) => a !== '-' && a.startsWith('-'));
  if (unknown) {
    err.write(`unknown flag: ${unknown}\nSee 'berth dockerfile parse --help'.\n`);
    return 125;
  }
  if (positional.length > 1) {
    err.write(`"berth dockerfile parse" accepts at most 1 argument.\nSee 'berth dockerfile parse --help'.\n\n${USAGE}`);
    return 125;
  }
  const file = positional[0] ?? 'Dockerfile';
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file or directory' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    err.write(`open ${file}: ${reason}\n`);
    return 1;
  }
  try {
    const parsed = parseDockerfile(text, { fileName: file === '-' ? 'Dockerfile' : file.split('/').pop() });
    for (const w of parsed.warnings) err.write(`[WARNING]: ${w}\n`);
    const doc = { directives: parsed.directives, instructions: parsed.nodes.map(nodeToJSON) };
    out.write(JSON.stringify(doc, null, 2) + '\n');
    return 0;
  } catch (e) {
    err.write(`${(e as Error).message}\n`);
    return 1;
  }
}
