// The HTML shell shared by every page Porthole itself renders (gate pages, refusal pages):
// one stylesheet, no scripts, strict headers. Small enough to load instantly on a phone.
import type http from 'node:http';
import type { Locale } from './locale.js';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const STYLE = `
:root{color-scheme:light dark;--fg:#1b1b1f;--bg:#f6f6f9;--card:#fff;--muted:#5c5c66;--accent:#4250af;--err:#b3261e}
@media (prefers-color-scheme:dark){:root{--fg:#e6e6ec;--bg:#121216;--card:#1d1d23;--muted:#a4a4b0;--accent:#aab4ff;--err:#ffb4ab}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:var(--bg);color:var(--fg);
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding:16px}
main{width:100%;max-width:26rem;background:var(--card);border-radius:16px;padding:28px 24px;box-shadow:0 1px 3px #0002}
h1{font-size:1.35rem;margin:0 0 .75rem}
p{margin:.5rem 0}.muted{color:var(--muted);font-size:.9rem}
label{display:block;font-weight:600;margin:1rem 0 .35rem}
input{width:100%;font:inherit;padding:.75rem;border:1px solid var(--muted);border-radius:10px;background:transparent;color:inherit}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
input.code{font-size:1.6rem;letter-spacing:.4em;text-align:center;font-variant-numeric:tabular-nums}
button{width:100%;margin-top:1rem;font:inherit;font-weight:600;padding:.8rem;border:0;border-radius:10px;background:var(--accent);color:var(--card);cursor:pointer}
button.link{background:none;color:var(--accent);padding:.4rem;width:auto;margin:0}
.error{color:var(--err);font-weight:600}
a{color:var(--accent);font-weight:600;text-underline-offset:.15em}
code{font-size:.9em}
`;

export interface PageOptions {
  locale: Locale;
  title: string;
  /** Already-escaped HTML for the card's body. */
  body: string;
  status: number;
  headers?: http.OutgoingHttpHeaders;
  /** CSS added after the shared stylesheet (the admin page's wider layout and tables). */
  extraStyle?: string;
}

/** Headers every Porthole-rendered response carries: no caching, no framing, no sniffing, no leaking. */
export const PAGE_SECURITY_HEADERS: http.OutgoingHttpHeaders = {
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

export function renderPage(title: string, body: string, locale: Locale, extraStyle = ''): string {
  return `<!doctype html><html lang="${locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex,nofollow">
<title>${escapeHtml(title)}</title><style>${STYLE}${extraStyle}</style></head>
<body><main>${body}</main></body></html>`;
}

export function sendPage(res: http.ServerResponse, options: PageOptions, method = 'GET'): void {
  const html = renderPage(options.title, options.body, options.locale, options.extraStyle);
  const length = Buffer.byteLength(html);
  res.writeHead(options.status, {
    ...PAGE_SECURITY_HEADERS,
    'content-type': 'text/html; charset=utf-8',
    'content-length': length,
    ...options.headers,
  });
  res.end(method === 'HEAD' ? undefined : html);
}
