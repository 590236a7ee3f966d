/**
 * Dockerfile front end of the builder: parsing exactly as Docker does, typed instructions,
 * variable expansion rules, ARG scoping, .dockerignore matching, and `berth dockerfile parse`.
 * Pure logic, no daemon; only walkBuildContext and the CLI touch the filesystem.
 */
export { parseDockerfile, type ParsedDockerfile } from './dockerfile.js';
export { DockerfileParseError } from './errors.js';
export {
  parseDockerfileAst, parseHeredoc, parseWords, chompHeredocContent,
  type DockerfileNode, type Heredoc, type KeyValueArg, type ParseResult, type ParserDirectives, type ParseOptions,
} from './parser.js';
export {
  parseInstruction, parseStages, parseRunMount, parseOnbuildTriggers, findStage, stagesNeeded, INSTRUCTION_NAMES,
  type Instruction, type Command, type Stage, type DockerfileStages, type InstructionName,
  type FromInstruction, type RunInstruction, type CmdInstruction, type EntrypointInstruction, type ShellInstruction,
  type LabelInstruction, type EnvInstruction, type MaintainerInstruction, type ExposeInstruction, type AddInstruction,
  type CopyInstruction, type VolumeInstruction, type UserInstruction, type WorkdirInstruction, type ArgInstruction,
  type OnbuildInstruction, type StopSignalInstruction, type HealthcheckInstruction, type HealthConfig,
  type KeyValuePair, type ArgDefinition, type InlineFile, type RunMount,
} from './instructions.js';
export { ShellLex, ShellExpansionError, toEnvGetter, type EnvGetter, type EnvInput, type ProcessWordResult, type ShellLexOptions } from './shell-lex.js';
export {
  BuildArgs, PREDEFINED_ARGS, EXPANDED_INSTRUCTIONS, expansionEnv, platformArgs, applyMetaArgs, expandFrom,
  expandInstruction, expandHeredocContent, runHeredocCommand,
} from './expand.js';
export {
  createIgnoreMatcher, readDockerignore, trimBuildFilesFromExcludes, cleanPath, filesDaemonRemovesFromContext, walkBuildContext,
  type IgnoreMatcher, type MatchInfo, type ContextEntry,
} from './dockerignore.js';
export { parseGoDuration } from './duration.js';
export { runDockerfileParse, nodeToJSON, type InstructionJSON } from './cli.js';
export { commitMessage, nopCommand, nopCreatedBy, runCommandWithBuildArgs, goQuoteSlice, formatGoDuration, type CommitContext } from './history.js';
export { goQuote } from './go-format.js';
export { resolveWorkdir, exposedPortKeys, parseSignal } from './config.js';
