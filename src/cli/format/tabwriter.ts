/**
 * A port of Go's text/tabwriter (the algorithm docker's tables go through): cells are
 * tab-terminated, a column's width is the widest cell in its block plus padding (at least
 * minwidth), and the last cell of a line is not aligned. Docker uses minwidth 10, tabwidth 1,
 * padding 3, padchar ' ', no flags.
 */

interface Cell { size: number; width: number; htab: boolean; text: string }

export interface TabwriterOptions { minwidth?: number; padding?: number; padchar?: string; alignRight?: boolean }

export class TabWriter {
  private lines: Cell[][] = [[]];
  private cellText = '';
  private out: string[] = [];
  private widths: number[] = [];
  private readonly minwidth: number;
  private readonly padding: number;
  private readonly padchar: string;
  private readonly alignRight: boolean;

  constructor(opts: TabwriterOptions = {}) {
    this.minwidth = opts.minwidth ?? 10;
    this.padding = opts.padding ?? 3;
    this.padchar = opts.padchar ?? ' ';
    this.alignRight = opts.alignRight ?? false;
  }

  write(text: string): void {
    for (const ch of text) {
      if (ch === '\t' || ch === '\v') this.terminateCell(ch === '\t');
      else if (ch === '\n' || ch === '\f') {
        const ncells = this.terminateCell(false);
        this.lines.push([]);
        // A line with a single cell ends all column blocks (as Go flushes here).
        if (ch === '\f' || ncells === 1) this.flushInternal();
      } else this.cellText += ch;
    }
  }

  private terminateCell(htab: boolean): number {
    const text = this.cellText;
    const line = this.lines[this.lines.length - 1];
    line.push({ size: Buffer.byteLength(text), width: [...text].length, htab, text });
    this.cellText = '';
    return line.length;
  }

  /** Formats everything written so far and returns it. */
  flush(): string {
    if (this.cellText.length > 0) this.terminateCell(false);
    this.flushInternal();
    const s = this.out.join('');
    this.out = [];
    return s;
  }

  private flushInternal(): void {
    // The current (last) line is incomplete unless empty; keep it to continue after formatting.
    const last = this.lines[this.lines.length - 1];
    const complete = this.lines.slice(0, -1);
    if (last.length > 0) complete.push(last);
    this.lines = complete;
    this.format(0, this.lines.length, last.length === 0);
    this.lines = [[]];
    this.widths = [];
  }

  private format(line0: number, line1: number, trailingNewline: boolean): void {
    const column = this.widths.length;
    for (let th = line0; th < line1; th++) {
      let line = this.lines[th];
      if (column >= line.length - 1) continue;
      this.writeLines(line0, th, trailingNewline, line1);
      line0 = th;
      let width = this.minwidth;
      for (; th < line1; th++) {
        line = this.lines[th];
        if (column >= line.length - 1) break;
        const c = line[column];
        const w = c.width + this.padding;
        if (w > width) width = w;
      }
      this.widths.push(width);
      this.format(line0, th, trailingNewline);
      this.widths.pop();
      line0 = th;
      th--; // the for-loop increment re-examines `th`, matching Go's loop structure
    }
    this.writeLines(line0, line1, trailingNewline, line1);
  }

  private writeLines(line0: number, line1: number, trailingNewline: boolean, end: number): void {
    void end;
    for (let i = line0; i < line1; i++) {
      const line = this.lines[i];
      for (let j = 0; j < line.length; j++) {
        const c = line[j];
        if (j < this.widths.length) {
          const pad = this.padchar.repeat(Math.max(0, this.widths[j] - c.width));
          this.out.push(this.alignRight ? pad + c.text : c.text + pad);
        } else this.out.push(c.text);
      }
      if (i + 1 === this.lines.length) {
        if (trailingNewline) this.out.push('\n');
      } else this.out.push('\n');
    }
  }
}

/** Aligns tab-separated text the way docker's table output does. */
export function tabulate(text: string, opts?: TabwriterOptions): string {
  const w = new TabWriter(opts);
  w.write(text);
  return w.flush();
}
