/* lt_err.c — strings for the error table in lt_err.h. */
#include "lt_err.h"

#include <stddef.h>

struct lt_err_row {
    int code;
    const char *name;
    const char *text;
};

static const struct lt_err_row lt_err_rows[] = {
#define LT_ERR_ROW(name, value, text) {value, #name, text},
    LT_ERRORS(LT_ERR_ROW)
#undef LT_ERR_ROW
};

static const struct lt_err_row *lt_err_find(int err)
{
    for (size_t i = 0; i < sizeof(lt_err_rows) / sizeof(lt_err_rows[0]); i++) {
        if (lt_err_rows[i].code == err)
            return &lt_err_rows[i];
    }
    return NULL;
}

const char *lt_strerror(int err)
{
    const struct lt_err_row *row = lt_err_find(err);
    return row ? row->text : "unknown error";
}

const char *lt_errname(int err)
{
    const struct lt_err_row *row = lt_err_find(err);
    return row ? row->name : "LT_E?";
}
