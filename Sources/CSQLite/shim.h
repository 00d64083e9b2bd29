// The system SQLite (Debian's libsqlite3-dev), as Trackstar's report sink sees it.
#include <sqlite3.h>
