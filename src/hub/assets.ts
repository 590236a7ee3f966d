/** The web interface's one stylesheet and one script, served from /static/ (no inline code: the CSP forbids it). */

export const CSS = `
:root{--bg:#f6f7fb;--card:#fff;--ink:#1b2333;--muted:#5d6b82;--line:#e3e7ef;--accent:#1f6feb;--accent-ink:#fff;--head:#0f1b2d;--ok:#1a7f37;--warn:#b35900;--bad:#c62828;--radius:10px;--mono:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
*{box-sizing:border-box}
button,input,select,textarea{font-family:inherit}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,Ubuntu,sans-serif;color:var(--ink);background:var(--bg)}
a{color:var(--accent);text-decoration:none}a:hover{text-decoration:underline}
header.top{background:var(--head);color:#fff}
.bar{max-width:1120px;margin:0 auto;padding:10px 20px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
.brand{color:#fff;font-weight:700;font-size:18px;display:flex;gap:8px;align-items:center;white-space:nowrap}
.brand:hover{text-decoration:none}
.brand .logo{display:inline-grid;place-items:center;width:28px;height:28px;border-radius:7px;background:var(--accent);font-size:15px}
.bar form.search{flex:1 1 240px;display:flex}
.bar form.search input{width:100%;padding:8px 12px;border-radius:8px;border:1px solid #33415c;background:#1c2a42;color:#fff;font-size:14px}
.bar form.search input::placeholder{color:#9fb0cc}
nav.menu{display:flex;gap:14px;align-items:center;flex-wrap:wrap}
nav.menu a,nav.menu button.link{color:#d7e0f0;font-size:14px}
nav.menu .who{color:#fff;font-weight:600}
button.link{background:none;border:0;padding:0;font:inherit;cursor:pointer;color:var(--accent)}
main{max-width:1120px;margin:0 auto;padding:24px 20px 48px}
h1{font-size:26px;margin:0 0 6px;word-break:break-word}h2{font-size:19px;margin:28px 0 10px}h3{font-size:16px}
.muted{color:var(--muted)}.small{font-size:13px}
.hero{background:linear-gradient(135deg,#13294b,#1f6feb);color:#fff;border-radius:var(--radius);padding:32px 28px;margin-bottom:24px}
.hero h1{font-size:30px}.hero p{margin:0 0 16px;color:#dbe6ff}
.hero form{display:flex;gap:8px;max-width:560px}
.hero input{flex:1;padding:11px 14px;border-radius:8px;border:0;font-size:16px}
.card{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:18px 20px;margin-bottom:16px}
.grid{display:grid;grid-template-columns:minmax(0,1fr) 320px;gap:20px}
@media (max-width:860px){.grid{grid-template-columns:minmax(0,1fr)}}
.repos{list-style:none;margin:0;padding:0;display:grid;gap:12px}
.repos li{background:var(--card);border:1px solid var(--line);border-radius:var(--radius);padding:14px 18px;display:flex;justify-content:space-between;gap:12px;align-items:center}
.repos .name{font-weight:600;font-size:16px;word-break:break-all}
.repos .desc{color:var(--muted);font-size:14px;margin-top:2px}
.stats{display:flex;gap:14px;color:var(--muted);font-size:13px;white-space:nowrap}
.badge{display:inline-block;font-size:12px;font-weight:600;padding:1px 8px;border-radius:99px;border:1px solid var(--line);color:var(--muted);vertical-align:middle}
.badge.private{color:var(--warn);border-color:#f0c99a;background:#fff7ec}.badge.public{color:var(--ok);border-color:#a9dcb6;background:#effaf2}
.btn{display:inline-block;background:var(--accent);color:var(--accent-ink);border:1px solid var(--accent);border-radius:8px;padding:8px 14px;font-family:inherit;font-weight:600;font-size:14px;line-height:1.2;cursor:pointer;text-decoration:none!important}
.btn.secondary{background:#fff;color:var(--ink);border-color:var(--line)}.btn.danger{background:#fff;color:var(--bad);border-color:#efb4b4}
.btn.small{padding:4px 10px;font-size:13px}
form.inline{display:inline}
label{display:block;font-weight:600;margin:12px 0 4px;font-size:14px}
input[type=text],input[type=password],input[type=url],select,textarea{width:100%;padding:9px 11px;border:1px solid #cfd6e2;border-radius:8px;font:inherit;background:#fff}
input[type=text],input[type=password],input[type=url],select{min-height:40px}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
textarea{min-height:180px;font-family:var(--mono);font-size:13px}
.row{display:flex;gap:10px;flex-wrap:wrap;align-items:end}.row>*{flex:1 1 160px}.row>.btn,.row>button{flex:0 0 auto}
.pull{display:flex;align-items:stretch;border:1px solid var(--line);border-radius:8px;overflow:hidden;background:#0f1b2d}
.pull code{flex:1;min-width:0;color:#e8eefc;padding:10px 12px;font:13px var(--mono);word-break:break-all}
.pull button{border:0;background:var(--accent);color:#fff;font-weight:600;padding:0 14px;cursor:pointer}
table{width:100%;border-collapse:collapse;font-size:14px}
th,td{text-align:left;padding:9px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
td code,.mono{font:12.5px var(--mono)}
.table-wrap{overflow-x:auto}
details summary{cursor:pointer;color:var(--accent);font-size:13px}
.layers{margin:6px 0 0;padding-left:18px;font-size:12.5px}.layers li{margin:2px 0;word-break:break-all}
.md{overflow-wrap:anywhere}.md pre{background:#f1f3f8;padding:12px;border-radius:8px;overflow-x:auto}.md code{background:#f1f3f8;padding:1px 5px;border-radius:4px;font:13px var(--mono)}.md pre code{background:none;padding:0}
.md blockquote{margin:0;padding-left:12px;border-left:3px solid var(--line);color:var(--muted)}
.flash{padding:10px 14px;border-radius:8px;margin-bottom:16px;font-size:14px}
.flash.ok{background:#effaf2;border:1px solid #a9dcb6;color:#135e2a}.flash.error{background:#fdeeee;border:1px solid #efb4b4;color:#8e1c1c}
.secret{font:14px var(--mono);background:#fffbe6;border:1px dashed #e0c96b;padding:10px;border-radius:8px;word-break:break-all}
.auth{max-width:400px;margin:40px auto}
.tabs{display:flex;gap:4px;border-bottom:1px solid var(--line);margin:16px 0}
.tabs a{padding:8px 12px;color:var(--muted);border-bottom:2px solid transparent}.tabs a.on{color:var(--ink);border-color:var(--accent);font-weight:600}
.pager{display:flex;gap:10px;justify-content:center;margin-top:16px}
.empty{text-align:center;color:var(--muted);padding:30px}
.star{font-size:14px}
.mt0{margin-top:0}.mb0{margin-bottom:0}.mt10{margin-top:10px}.mt18{margin-top:18px}
.row.center{align-items:center}.row>.grow{flex:1 1 300px}.row>.actions{flex:0 0 auto;display:flex;gap:8px}
label.radio{font-weight:400}
nav.menu button.link{color:#d7e0f0}
footer{max-width:1120px;margin:0 auto;padding:0 20px 30px;color:var(--muted);font-size:13px}
@media (max-width:600px){main{padding:16px 12px 40px}.hero{padding:22px 16px}.hero h1{font-size:24px}.repos li{flex-direction:column;align-items:flex-start}.bar{gap:10px}}
`;

export const JS = `
document.addEventListener('click', function (e) {
  var b = e.target.closest && e.target.closest('[data-copy]');
  if (!b) return;
  var text = b.getAttribute('data-copy');
  var done = function () { var t = b.textContent; b.textContent = 'Copied!'; setTimeout(function () { b.textContent = t; }, 1500); };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback); else fallback();
  function fallback() {
    var ta = document.createElement('textarea'); ta.value = text; document.body.appendChild(ta); ta.select();
    try { document.execCommand('copy'); done(); } finally { document.body.removeChild(ta); }
  }
});
document.addEventListener('submit', function (e) {
  var msg = e.target.getAttribute && e.target.getAttribute('data-confirm');
  if (msg && !window.confirm(msg)) e.preventDefault();
});
`;
