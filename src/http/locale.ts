// Picks the language for pages and mail from Accept-Language: German or English (the default).
export type Locale = 'en' | 'de';

export function pickLocale(acceptLanguage: string | undefined): Locale {
  if (!acceptLanguage) return 'en';
  let best: Locale = 'en';
  let bestQ = -1;
  // Bounded: a header with thousands of ranges is not worth parsing past the first few.
  for (const part of acceptLanguage.slice(0, 512).split(',').slice(0, 16)) {
    const [tag = '', ...params] = part.trim().toLowerCase().split(';');
    const qParam = params.find((p) => p.trim().startsWith('q='));
    const q = qParam ? Number(qParam.trim().slice(2)) : 1;
    if (!Number.isFinite(q)) continue;
    const language = tag.split('-')[0];
    if ((language === 'de' || language === 'en') && q > bestQ) {
      best = language;
      bestQ = q;
    }
  }
  return best;
}
