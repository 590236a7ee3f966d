/**
 * HTML building: a tagged template that escapes every interpolation unless it is already Safe
 * (produced by this template or by the Markdown renderer), so pages cannot be injected into by data.
 */
import { escapeHtml } from './markdown.js';

export class Safe {
  constructor(readonly html: string) {}
  toString(): string { return this.html; }
}

export const raw = (s: string): Safe => new Safe(s);

function part(v: unknown): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Safe) return v.html;
  if (Array.isArray(v)) return v.map(part).join('');
  return escapeHtml(String(v));
}

export function html(strings: TemplateStringsArray, ...values: unknown[]): Safe {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Safe(out);
}
