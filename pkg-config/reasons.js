// The one place where explain()'s reasons become sentences. The core returns codes with their
// numbers ({ code, value, contribution }); a store that wants other words or another language
// passes its own messages to reasonText(): an object with one function per code, taking the
// reason and returning a string. ENGLISH is the default and the model to copy.

const pct = (x) => Math.round(Math.abs(x) * 100);
const direction = (r) => (r.contribution > 0 ? 'up' : r.contribution < 0 ? 'down' : 'neither up nor down');

/** English sentences, keyed by reason code. */
export const ENGLISH = Object.freeze({
  ENGAGED: (r) => `You interacted with this item before (engagement weight ${Math.round(r.value)}); that moves it ${direction(r)}.`,
  SIMILAR: (r) => `It resembles items you engaged with (similarity ${pct(r.value)}%); that moves it ${direction(r)}.`,
  PRICE_VS_ENGAGED: (r) => {
    const what =
      Math.abs(r.value) < 0.05
        ? 'about the price of the items you looked at'
        : `${pct(r.value)}% ${r.value > 0 ? 'pricier' : 'cheaper'} than the items you looked at`;
    return `It is ${what}; that moves it ${direction(r)}.`;
  },
  PRICE_IN_LIST: (r) => {
    const where = r.value <= 0.25 ? 'among the cheapest' : r.value >= 0.75 ? 'among the dearest' : 'mid-priced';
    return `It is ${where} in this list; that moves it ${direction(r)}.`;
  },
  SKIPPED: (r) => `You skipped it; that moves it ${direction(r)}.`,
  SEEN: (r) => `You have already seen it without opening it; that moves it ${direction(r)}.`,
  NOTHING: () => "Nothing in this session singles it out; it keeps the store's order.",
});

/** The reason codes explain() returns. */
export const REASON_CODES = Object.freeze(Object.keys(ENGLISH));

/**
 * The sentence for one reason of `explain()`, from `messages` (default ENGLISH). A code the
 * messages lack falls back to English, then to the code itself, so a newer core never shows a
 * blank line.
 */
export function reasonText(reason, messages = ENGLISH) {
  const say = (messages && messages[reason.code]) || ENGLISH[reason.code];
  return typeof say === 'function' ? say(reason) : String(reason.code);
}
