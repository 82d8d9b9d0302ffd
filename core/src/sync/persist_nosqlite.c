/* persist_nosqlite.c - pw_persist_sqlite_open in a library built without
 * SQLite (meson -Dsqlite=disabled): says so. */
#include "patchwire/persist.h"

pw_persist *pw_persist_sqlite_open(const char *path, unsigned flags, pw_error *err)
{
    (void)flags;
    pw_error_set(err, PW_EUNSUPPORTED, "%s: this patchwire was built without SQLite", path);
    return NULL;
}
