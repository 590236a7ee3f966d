/** One call from Dockerfile text to checked, typed stages. */
import { parseStages, type DockerfileStages } from './instructions.js';
import { parseDockerfileAst, type ParseOptions, type ParseResult } from './parser.js';

export interface ParsedDockerfile extends ParseResult, DockerfileStages {}

/**
 * Parses and checks a Dockerfile as Docker would before building: syntax, instructions,
 * flags and argument counts. Throws DockerfileParseError (an InvalidParameterError) with
 * Docker's message naming the line.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): ParsedDockerfile {
  const ast = parseDockerfileAst(text, options);
  const stages = parseStages(ast.nodes);
  return { ...ast, ...stages };
}
