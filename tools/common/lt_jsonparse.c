/* lt_jsonparse.c — strict JSON reading with json-c (see lt_jsonparse.h). */
#include "lt_jsonparse.h"

#include <limits.h>
#include <stdio.h>

#include "lt_err.h"
#include "lt_json.h"

/* json_members counts the object members json-c kept, at every depth. */
static size_t json_members(json_object *j)
{
    size_t n = 0;
    if (json_object_is_type(j, json_type_object)) {
        json_object_object_foreach(j, k, v)
        {
            (void)k;
            n += 1 + json_members(v);
        }
    } else if (json_object_is_type(j, json_type_array)) {
        size_t len = json_object_array_length(j);
        for (size_t i = 0; i < len; i++)
            n += json_members(json_object_array_get_idx(j, i));
    }
    return n;
}

int lt_json_parse(const char *text, size_t len, json_object **out, char *err, size_t errlen)
{
    const char *why = NULL;
    size_t members = 0;
    long bad = lt_json_lex_check(text, len, &why, &members);
    if (bad >= 0) {
        snprintf(err, errlen, "malformed JSON at byte %ld: %s", bad, why);
        return LT_EINVAL;
    }
    if (len >= INT_MAX) {
        snprintf(err, errlen, "malformed JSON: too large");
        return LT_EINVAL;
    }
    struct json_tokener *tok = json_tokener_new();
    if (!tok) {
        snprintf(err, errlen, "out of memory");
        return LT_ENOMEM;
    }
    /* strict: no trailing commas, comments or bare words (leading zeros: the lexical pass);
     * UTF-8 checked. The terminating NUL is passed too, so that a bare number at the end is
     * complete. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *j = json_tokener_parse_ex(tok, text, (int)len + 1);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr != json_tokener_success) {
        json_object_put(j);
        if (jerr == json_tokener_continue)
            snprintf(err, errlen, "malformed JSON: unexpected end of the input");
        else
            snprintf(err, errlen, "malformed JSON at byte %zu: %s", used,
                     json_tokener_error_desc(jerr));
        return LT_EINVAL;
    }
    for (size_t k = used; k < len; k++) {
        if (text[k] != ' ' && text[k] != '\n' && text[k] != '\r' && text[k] != '\t') {
            json_object_put(j);
            snprintf(err, errlen, "malformed JSON: unexpected data after the value at byte %zu", k);
            return LT_EINVAL;
        }
    }
    if (json_members(j) != members) { /* json-c dropped a member: a key came twice */
        json_object_put(j);
        char key[64];
        long at = lt_json_dup_key(text, len, key, sizeof(key));
        if (at == -2) {
            snprintf(err, errlen, "out of memory");
            return LT_ENOMEM;
        }
        if (at >= 0)
            snprintf(err, errlen,
                     "malformed JSON at byte %ld: the key \"%s\" appears twice in one object", at,
                     key);
        else
            snprintf(err, errlen, "malformed JSON: a key appears twice in one object");
        return LT_EINVAL;
    }
    *out = j;
    return 0;
}
