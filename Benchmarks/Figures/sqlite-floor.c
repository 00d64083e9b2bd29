// The floor under the SQLite sink: the same click row (21 columns: ids, 26-char click ID, subs, agent,
// address, enrichment) inserted from C with everything the sink does (WAL, prepared multi-row INSERT of
// 64 rows, 10,000-row transactions, static binds) and nothing else: no log reading, no Swift. What this
// costs per row is what SQLite itself costs; the sink cannot go below it with this table.
// `slim` is the row of issue 19's schema decision: no click ID text (it is made from click_ref when
// read), the address as an integer, the user agent as an interned id (agents repeat), enrichment as
// integers, no time index (roll-ups answer ranged reports) — 16 columns instead of 21.
// Build: cc -O2 Benchmarks/Figures/sqlite-floor.c -lsqlite3 -o /tmp/sqlite-floor
// Run:   /tmp/sqlite-floor RECORDS index|noindex|agentid|slim|block FULL|NORMAL   (prints CPU µs per row; under
//        valgrind --tool=callgrind, divide the instructions by RECORDS)
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double cpu(void) { struct timespec t; clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void run(sqlite3 *db, const char *sql) {
    char *error = 0;
    if (sqlite3_exec(db, sql, 0, 0, &error) != SQLITE_OK) { fprintf(stderr, "%s: %s\n", sql, error); exit(1); }
}

static char *put(char *p, const char *text) { size_t n = strlen(text); memcpy(p, text, n); return p + n; }
static char *putInt(char *p, long v) {
    char digits[24]; int n = 0;
    do { digits[n++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (n) *p++ = digits[--n];
    return p;
}

// `block`: the packed alternative — one row per 10,000 clicks holding them as a JSON array of
// arrays, read through a `clicks` view over json_each (SQLite's JSON1, in the sqlite3 CLI too).
// Prints SQLite's CPU per click apart from the (C) cost of making the text, and the view's read cost.
static int blocks(sqlite3 *db, long records, const char *agent) {
    run(db, "CREATE TABLE click_blocks (shard INTEGER NOT NULL, first INTEGER NOT NULL, count INTEGER NOT NULL, "
            "rows TEXT NOT NULL, PRIMARY KEY (shard, first)) WITHOUT ROWID");
    run(db, "CREATE VIEW clicks AS SELECT j.value ->> 0 AS click_ref, j.value ->> 1 AS time_ms, j.value ->> 2 AS offer_id, "
            "j.value ->> 3 AS aff_id, j.value ->> 4 AS sub1, j.value ->> 5 AS sub2, j.value ->> 9 AS aff_click_id, "
            "j.value ->> 10 AS source, j.value ->> 11 AS ip, j.value ->> 12 AS user_agent FROM click_blocks b, json_each(b.rows) j");
    sqlite3_stmt *insert;
    if (sqlite3_prepare_v2(db, "INSERT INTO click_blocks VALUES (0,?,?,?)", -1, &insert, 0) != SQLITE_OK) return 1;
    static char text[10000 * 400];
    double making = 0, started = cpu();
    long ref = 0;
    while (ref < records) {
        double t = cpu();
        long first = ref;
        char *p = text;
        *p++ = '[';
        for (int r = 0; r < 10000 && ref < records; r++, ref++) {
            if (r) *p++ = ',';
            *p++ = '['; p = putInt(p, ref); *p++ = ','; p = putInt(p, 1767225600000 + ref * 10); *p++ = ',';
            p = putInt(p, ref % 7 + 1); p = put(p, ",7,\"sub-"); p = putInt(p, ref % 100);
            p = put(p, "\",\"b7\",\"\",\"\",\"\",\"a1b2c3d4e5\",\"newsletter\",\"192.0.2.7\",\"");
            p = put(p, agent); p = put(p, "\",\"\",0,\"\",\"\",\"\",\"\",0]");
        }
        *p++ = ']';
        making += cpu() - t;
        run(db, "BEGIN IMMEDIATE");
        sqlite3_bind_int64(insert, 1, first); sqlite3_bind_int64(insert, 2, ref - first);
        sqlite3_bind_text(insert, 3, text, (int)(p - text), SQLITE_STATIC);
        if (sqlite3_step(insert) != SQLITE_DONE) { fprintf(stderr, "%s\n", sqlite3_errmsg(db)); return 1; }
        sqlite3_reset(insert);
        run(db, "COMMIT");
    }
    double seconds = cpu() - started;
    printf("sqlite-floor block: %ld rows, CPU %.3f us/row in SQLite, %.3f us/row making the JSON text (C)\n", records,
           (seconds - making) * 1e6 / records, making * 1e6 / records);
    sqlite3_finalize(insert);
    sqlite3_stmt *count;
    double t = cpu();
    if (sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT sub1) FROM clicks", -1, &count, 0) != SQLITE_OK
        || sqlite3_step(count) != SQLITE_ROW) { fprintf(stderr, "%s\n", sqlite3_errmsg(db)); return 1; }
    printf("  read back through the clicks view: %lld rows, %lld distinct sub1, %.3f us/row\n", sqlite3_column_int64(count, 0),
           sqlite3_column_int64(count, 1), (cpu() - t) * 1e6 / records);
    sqlite3_finalize(count);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s RECORDS index|noindex|agentid|slim|block FULL|NORMAL\n", argv[0]); return 2; }
    long records = atol(argv[1]);
    // agentid: today's row with the user agent as an interned integer id (and the time index).
    int agentid = strcmp(argv[2], "agentid") == 0;
    int index = strcmp(argv[2], "index") == 0 || agentid, slim = strcmp(argv[2], "slim") == 0;
    const char *path = "/tmp/sqlite-floor.db";
    unlink(path);
    char wal[64], shm[64];
    snprintf(wal, sizeof wal, "%s-wal", path); snprintf(shm, sizeof shm, "%s-shm", path); unlink(wal); unlink(shm);
    sqlite3 *db;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, 0) != SQLITE_OK) return 1;
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas, "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA cache_size = -65536; "
             "PRAGMA wal_autocheckpoint = 10000;", argv[3]);
    run(db, pragmas);
    if (strcmp(argv[2], "block") == 0) {
        int status = blocks(db, records, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36");
        sqlite3_close(db);
        unlink(path); unlink(wal); unlink(shm);
        return status;
    }
    if (slim) run(db, "CREATE TABLE clicks (click_ref INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, offer_id INTEGER NOT NULL, "
                      "aff_id INTEGER NOT NULL, sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, sub4 TEXT NOT NULL, "
                      "sub5 TEXT NOT NULL, aff_click_id TEXT NOT NULL, source TEXT NOT NULL, ip INTEGER NOT NULL, agent_id INTEGER NOT NULL, "
                      "country INTEGER NOT NULL, asn INTEGER NOT NULL, flags INTEGER NOT NULL)");
    else {
        char create[1024];
        snprintf(create, sizeof create, "CREATE TABLE clicks (click_ref INTEGER PRIMARY KEY, click_id TEXT NOT NULL, time_ms INTEGER NOT NULL, "
            "offer_id INTEGER NOT NULL, aff_id INTEGER NOT NULL, sub1 TEXT NOT NULL, sub2 TEXT NOT NULL, sub3 TEXT NOT NULL, "
            "sub4 TEXT NOT NULL, sub5 TEXT NOT NULL, aff_click_id TEXT NOT NULL, source TEXT NOT NULL, ip TEXT NOT NULL, "
            "user_agent %s NOT NULL, country TEXT NOT NULL DEFAULT '', asn INTEGER NOT NULL DEFAULT 0, device TEXT NOT NULL DEFAULT '', "
            "os TEXT NOT NULL DEFAULT '', browser TEXT NOT NULL DEFAULT '', bot_reason TEXT NOT NULL DEFAULT '', "
            "is_unique INTEGER NOT NULL DEFAULT 0)", agentid ? "INTEGER" : "TEXT");
        run(db, create);
    }
    if (index) run(db, "CREATE INDEX clicks_time ON clicks (time_ms)");
    enum { rows = 64 };
    int columns = slim ? 16 : 21;
    static char sql[rows * (2 * 21 + 3) + 64];
    int at = snprintf(sql, sizeof sql, "INSERT INTO clicks VALUES ");
    for (int r = 0; r < rows; r++) {
        at += snprintf(sql + at, sizeof sql - at, "%s(", r ? "," : "");
        for (int c = 0; c < columns; c++) at += snprintf(sql + at, sizeof sql - at, "%s?", c ? "," : "");
        at += snprintf(sql + at, sizeof sql - at, ")");
    }
    sqlite3_stmt *insert;
    if (sqlite3_prepare_v2(db, sql, -1, &insert, 0) != SQLITE_OK) { fprintf(stderr, "%s\n", sqlite3_errmsg(db)); return 1; }
    const char *agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36";
    static char scratch[rows][64];
    double started = cpu();
    long ref = 0;
    while (ref < records) {
        run(db, "BEGIN IMMEDIATE");
        for (int b = 0; b < 10000 && ref < records; b += rows) {
            for (int r = 0; r < rows; r++, ref++) {
                int base = r * columns;
                char *s = scratch[r];
                if (slim) {
                    int subLength = snprintf(s, 16, "sub-%ld", ref % 100);
                    sqlite3_bind_int64(insert, base + 1, ref); sqlite3_bind_int64(insert, base + 2, 1767225600000 + ref * 10);
                    sqlite3_bind_int64(insert, base + 3, ref % 7 + 1); sqlite3_bind_int64(insert, base + 4, 7);
                    sqlite3_bind_text(insert, base + 5, s, subLength, SQLITE_STATIC);
                    sqlite3_bind_text(insert, base + 6, "b7", 2, SQLITE_STATIC);
                    for (int k = 7; k <= 9; k++) sqlite3_bind_text(insert, base + k, "", 0, SQLITE_STATIC);
                    sqlite3_bind_text(insert, base + 10, "a1b2c3d4e5", 10, SQLITE_STATIC);
                    sqlite3_bind_text(insert, base + 11, "newsletter", 10, SQLITE_STATIC);
                    sqlite3_bind_int64(insert, base + 12, 0xC0000207); sqlite3_bind_int64(insert, base + 13, 1 + ref % 50);
                    sqlite3_bind_int64(insert, base + 14, 0x5355); sqlite3_bind_int64(insert, base + 15, 64500);
                    sqlite3_bind_int64(insert, base + 16, 0x103);
                    continue;
                }
                memcpy(s, "0123456789ABCDEFGHJKMNPQRS", 26);  // click ID
                int subLength = snprintf(s + 32, 16, "sub-%ld", ref % 100);
                sqlite3_bind_int64(insert, base + 1, ref); sqlite3_bind_text(insert, base + 2, s, 26, SQLITE_STATIC);
                sqlite3_bind_int64(insert, base + 3, 1767225600000 + ref * 10);
                sqlite3_bind_int64(insert, base + 4, ref % 7 + 1); sqlite3_bind_int64(insert, base + 5, 7);
                sqlite3_bind_text(insert, base + 6, s + 32, subLength, SQLITE_STATIC);
                sqlite3_bind_text(insert, base + 7, "b7", 2, SQLITE_STATIC);
                for (int k = 8; k <= 10; k++) sqlite3_bind_text(insert, base + k, "", 0, SQLITE_STATIC);
                sqlite3_bind_text(insert, base + 11, "a1b2c3d4e5", 10, SQLITE_STATIC);
                sqlite3_bind_text(insert, base + 12, "newsletter", 10, SQLITE_STATIC);
                sqlite3_bind_text(insert, base + 13, "192.0.2.7", 9, SQLITE_STATIC);
                if (agentid) sqlite3_bind_int64(insert, base + 14, 1 + ref % 50);
                else sqlite3_bind_text(insert, base + 14, agent, (int)strlen(agent), SQLITE_STATIC);
                sqlite3_bind_text(insert, base + 15, "", 0, SQLITE_STATIC); sqlite3_bind_int64(insert, base + 16, 0);
                for (int k = 17; k <= 20; k++) sqlite3_bind_text(insert, base + k, "", 0, SQLITE_STATIC);
                sqlite3_bind_int64(insert, base + 21, 0);
            }
            if (sqlite3_step(insert) != SQLITE_DONE) { fprintf(stderr, "%s\n", sqlite3_errmsg(db)); return 1; }
            sqlite3_reset(insert);
        }
        run(db, "COMMIT");
    }
    double seconds = cpu() - started;
    printf("sqlite-floor %s synchronous=%s: %ld rows, CPU %.3f us/row = %.0f rows/s of CPU\n", argv[2], argv[3], records,
           seconds * 1e6 / records, records / seconds);
    sqlite3_finalize(insert);
    sqlite3_close(db);
    unlink(path); unlink(wal); unlink(shm);
    return 0;
}
