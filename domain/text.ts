/**
 * Text every store can hold exactly. PostgreSQL's text and jsonb refuse U+0000, and a UTF-16 code
 * unit that is half of no surrogate pair has no UTF-8 form (drivers swap it for U+FFFD, jsonb
 * refuses its escape), so either would be stored differently, or not at all, depending on the
 * store. Whatever is kept from a user's input is checked against this first.
 */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export const isStorableText = (text: string): boolean => !UNSTORABLE.test(text);

/**
 * Something a reader could see: not only white space and the code points Unicode says to render as
 * nothing (zero-width space and joiners, word joiner, bidi marks, variation selectors, the Hangul
 * filler, …), nor the blank Braille pattern U+2800, a graphic character drawn as empty space that is
 * the usual way round such a rule. A body of only these showed as an empty bubble. The web pages
 * check it before sending.
 */
const INVISIBLE_ONLY = /^[\p{White_Space}\p{Default_Ignorable_Code_Point}\u2800]*$/u;

export const hasVisibleText = (text: string): boolean => !INVISIBLE_ONLY.test(text);
