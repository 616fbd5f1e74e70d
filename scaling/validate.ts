import { z } from 'zod';

/**
 * Every input (architecture, task, search spec, flags) is validated by one zod schema. A failure becomes a
 * `SpecError` whose message names each bad field by its path and says what is allowed — never a stack trace.
 */
export class SpecError extends Error {
  constructor(
    message: string,
    readonly issues: readonly string[] = [message],
  ) {
    super(message);
    this.name = 'SpecError';
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, key) => {
    if (typeof key === 'number') return `${acc}[${key}]`;
    return acc ? `${acc}.${String(key)}` : String(key);
  }, '');
}

function describeIssue(issue: z.core.$ZodIssue, prefix: string): string {
  const path = formatPath([...(prefix ? [prefix] : []), ...issue.path]);
  return `${path || '(root)'}: ${issue.message}`;
}

/** Parses `value` with `schema`, or throws a SpecError listing every bad field of `source` (a file or flag set). */
export function parseSpec<S extends z.ZodType>(schema: S, value: unknown, source: string, prefix = ''): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => describeIssue(issue, prefix));
  throw new SpecError(`invalid ${source}:\n  ${issues.join('\n  ')}`, issues);
}
