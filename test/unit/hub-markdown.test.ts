import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMarkdown, summary } from '../../src/hub/markdown.js';
import { html, raw } from '../../src/hub/html.js';

test('markdown: the supported subset renders', () => {
  const out = renderMarkdown('# Title\n\nSome **bold** and *em* and `code`.\n\n- a\n- b\n\n1. one\n2. two\n\n> quoted\n\n```\nx < y\n```\n\n---\n\n[link](https://example.com/x)');
  assert.match(out, /<h2>Title<\/h2>/);
  assert.match(out, /<p>Some <strong>bold<\/strong> and <em>em<\/em> and <code>code<\/code>.<\/p>/);
  assert.match(out, /<ul><li>a<\/li><li>b<\/li><\/ul>/);
  assert.match(out, /<ol><li>one<\/li><li>two<\/li><\/ol>/);
  assert.match(out, /<blockquote><p>quoted<\/p><\/blockquote>/);
  assert.match(out, /<pre><code>x &lt; y<\/code><\/pre>/);
  assert.match(out, /<hr>/);
  assert.match(out, /<a href="https:\/\/example.com\/x" rel="nofollow noopener noreferrer">link<\/a>/);
});

test('markdown: raw HTML, dangerous links and attribute breakouts come out inert', () => {
  const cases = [
    '<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '[x](javascript:alert(1))', '[x](JaVaScRiPt:alert(1))',
    '[x](data:text/html;base64,PHNjcmlwdD4=)', '[x](vbscript:msgbox)', '[x](https://a.example/"onmouseover="alert(1))',
    '`</code><script>alert(1)</script>`', '**<iframe src=//evil>**', '[<img src=x onerror=alert(1)>](https://ok.example)',
    '```\n</code></pre><script>x</script>\n```', '    <script>indented</script>',
  ];
  for (const c of cases) {
    const out = renderMarkdown(c);
    assert.doesNotMatch(out, /<(script|img|iframe|svg)/i, c);
    assert.doesNotMatch(out, /href="(?!https?:)/i, c);
    assert.doesNotMatch(out, /"on\w+=/i, c);
  }
  assert.equal(renderMarkdown('[x](javascript:alert(1))'), '<p>x</p>');
});

test('summary: first prose line, markup stripped, shortened', () => {
  assert.equal(summary('# Name\n\nThe **best** [image](https://x).'), 'The best image.');
  assert.equal(summary('# Only a heading'), 'Only a heading');
  assert.equal(summary('x'.repeat(300), 10).length, 10);
});

test('html template escapes interpolations unless they are Safe', () => {
  assert.equal(html`<p>${'<b>"x"&\'</b>'}</p>`.html, '<p>&lt;b&gt;&quot;x&quot;&amp;&#39;&lt;/b&gt;</p>');
  assert.equal(html`<p>${raw('<b>ok</b>')}${['<i>', html`<i>`]}${undefined}${false}</p>`.html, '<p><b>ok</b>&lt;i&gt;<i></p>');
});
