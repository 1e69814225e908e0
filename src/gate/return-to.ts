// Where to send a person after sign-in: only a path on this same host. Everything that a browser could read
// as another host (//x, /\x, encoded or with control characters), anything absolute, anything overlong and
// the gate's own pages fall back to "/". This is the only function that decides it.
const MAX_LENGTH = 2048;
const FALLBACK = '/';

function decodeRepeatedly(value: string): string | null {
  let current = value;
  for (let i = 0; i < 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(current);
    } catch {
      return null;
    }
    if (next === current) return current;
    current = next;
  }
  return current;
}

export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_LENGTH) return FALLBACK;
  // Must be a rooted path, and must not become a scheme-relative URL by any reading of it.
  if (value[0] !== '/' || value[1] === '/' || value[1] === '\\') return FALLBACK;
  // Control characters (CR/LF header injection, tabs browsers strip), spaces and backslashes anywhere.
  if (/[\u0000-\u0020\u007f\\]/.test(value)) return FALLBACK;
  const decoded = decodeRepeatedly(value);
  if (decoded === null) return FALLBACK;
  if (decoded[1] === '/' || decoded[1] === '\\' || /[\u0000-\u001f\u007f\\]/.test(decoded)) return FALLBACK;
  let parsed: URL;
  try {
    parsed = new URL(value, 'http://same.invalid');
  } catch {
    return FALLBACK;
  }
  if (parsed.origin !== 'http://same.invalid') return FALLBACK;
  if (/^\/\.porthole(\/|$)/i.test(decoded)) return FALLBACK;
  // Judge what the browser will be sent, after URL parsing resolved dot segments ("/.//x" becomes "//x").
  const result = parsed.pathname + parsed.search + parsed.hash;
  if (result[1] === '/' || result[1] === '\\' || /^\/(\.|%2e)porthole(\/|$)/i.test(result)) return FALLBACK;
  return result;
}
