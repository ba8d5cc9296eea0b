/* lt_utf8.h — strict UTF-8 (RFC 3629): the shortest form only, no UTF-16 surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF. json-c's JSON_TOKENER_VALIDATE_UTF8 and
 * protobuf-c check less (json-c lets overlong forms, surrogates and code points above
 * U+10FFFF through; protobuf-c checks nothing), and a record holding such bytes would
 * make every answer that lists it invalid JSON for a strict client. */
#ifndef LT_UTF8_H
#define LT_UTF8_H

#include <stddef.h>

/* lt_utf8_seq: the length (1..4) of the valid sequence starting at p (`avail` bytes
 * readable), 0 if the bytes there are not one. */
size_t lt_utf8_seq(const unsigned char *p, size_t avail);

/* lt_utf8_invalid_at: the offset of the first byte of s[0..len) that does not start a
 * valid sequence, -1 if all of it is valid UTF-8. */
long lt_utf8_invalid_at(const char *s, size_t len);

/* lt_utf8_scrub replaces, in place, every byte of the NUL-terminated `s` that is not part
 * of a valid sequence with '?' (for messages that quote input or were cut to a size). */
void lt_utf8_scrub(char *s);

#endif
