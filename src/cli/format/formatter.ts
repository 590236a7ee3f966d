/**
 * Docker's --format handling for list commands: "" or "table" use the command's default table,
 * "json" is `{{json .}}`, "table TEMPLATE" renders a header row and aligns columns with the
 * tabwriter, anything else is a raw Go template printed once per row.
 */
import { HEADER_FUNCS, Template, TemplateError } from './go-template.js';
import { tabulate } from './tabwriter.js';

export function isTableFormat(format: string): boolean { return format.startsWith('table'); }

/** Resolves the user's --format against a command's default table format. */
export function resolveFormat(format: string | undefined, defaultTable: string): string {
  if (!format || format === 'table') return defaultTable;
  if (format === 'json') return '{{json .}}';
  return format;
}

/** Unescapes literal \t and \n as docker does, after stripping "table". */
function templateText(format: string): string {
  let f = isTableFormat(format) ? format.slice('table'.length) : format;
  f = f.trim();
  return f.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}

export function parseTemplate(text: string, header = false): Template {
  try {
    return header ? new Template(text, HEADER_FUNCS) : new Template(text);
  } catch (e) {
    if (e instanceof TemplateError) throw new TemplateError(`template parsing error: ${e.message}`);
    throw e;
  }
}

/**
 * Renders rows with a resolved format. `header` is an object with the same fields as a row whose
 * values are the column titles (functions receive their arguments, e.g. Label(name) => name).
 */
export function renderList(format: string, rows: unknown[], header: unknown): string {
  const text = templateText(format);
  const tmpl = parseTemplate(text);
  let body = '';
  for (const r of rows) body += tmpl.execute(r) + '\n';
  if (!isTableFormat(format)) return body;
  const head = parseTemplate(text, true).execute(header) + '\n';
  return tabulate(head + body);
}

/** One template execution per item, newline-terminated (inspect --format, version --format). */
export function renderEach(format: string, items: unknown[], opts: { missingKeyError?: boolean } = {}): string {
  const tmpl = parseTemplate(format);
  tmpl.missingKeyError = opts.missingKeyError === true;
  return items.map((i) => tmpl.execute(i) + '\n').join('');
}
