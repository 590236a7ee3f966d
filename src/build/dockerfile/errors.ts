import { InvalidParameterError } from '../../errors/index.js';

/**
 * A Dockerfile Docker would refuse. The message names the line as Docker's does:
 * "dockerfile parse error on line 3: unknown instruction: FOO".
 */
export class DockerfileParseError extends InvalidParameterError {
  constructor(
    /** The bare reason, e.g. "unknown instruction: FOO". */
    readonly reason: string,
    /** 1-based first line of the offending instruction (0 when no line applies). */
    readonly line: number,
    readonly endLine: number = line,
  ) {
    super(line > 0 ? `dockerfile parse error on line ${line}: ${reason}` : reason);
  }
}

/** Levenshtein distance, for Docker's "(did you mean X?)" hints. */
function distance(a: string, b: string): number {
  const dp: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0]!;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j]!;
      dp[j] = Math.min(dp[j]! + 1, dp[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length]!;
}

/** Appends " (did you mean X?)" when one option is a likely typo of value. */
export function withSuggestion(message: string, value: string, options: readonly string[], caseSensitive: boolean): string {
  if (value.length < 2) return message;
  const v = caseSensitive ? value : value.toLowerCase();
  let best = '';
  let bestDist = Infinity;
  for (const opt of options) {
    const o = caseSensitive ? opt : opt.toLowerCase();
    if (o === v) return message;
    const d = distance(v, o);
    if (d < bestDist) {
      bestDist = d;
      best = opt;
    }
  }
  const allowed = v.length >= 4 ? 2 : 1;
  return best && bestDist <= allowed ? `${message} (did you mean ${best}?)` : message;
}
