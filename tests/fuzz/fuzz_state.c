/*
 * Fuzz target: the state file of the library's file state store
 * (src/file/filestate.c).  Any content is either loaded or refused with a
 * message; never a crash or a leak.  A loaded state survives a round trip:
 * saved, opened again and saved again, it gives the same bytes and the
 * same run-id counter.
 */
#define _GNU_SOURCE /* mkdtemp */
#include "fuzz.h"

#include <onhandpub.h>

#include <fcntl.h>
#include <unistd.h>

static char dir[64];
static char path[96];

static void put_file(const uint8_t *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    close(fd);
}

static char *slurp(size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        abort();
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *grown = realloc(buf, cap);
            if (grown == NULL)
                abort();
            buf = grown;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    return buf;
}

static void cleanup(void)
{
    char lock[128];
    snprintf(lock, sizeof lock, "%s.lock", path);
    unlink(path);
    unlink(lock);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (dir[0] == '\0') {
        snprintf(dir, sizeof dir, "/tmp/ohp-fuzz-state-XXXXXX");
        if (mkdtemp(dir) == NULL)
            abort();
        snprintf(path, sizeof path, "%s/state.psv", dir);
        atexit(cleanup);
    }
    put_file(data, size);
    char msg[OHP_FILESINK_MSGSIZE];
    ohp_filestate *st = NULL;
    int rc = ohp_filestate_open(&st, path, OHP_FILESTATE_NOWAIT, NULL, msg);
    if (rc != OHP_OK) {
        FUZZ_CHECK(st == NULL && msg[0] != '\0');
        FUZZ_CHECK(rc == OHP_EPARSE || rc == OHP_ENOMEM);
        return 0;
    }
    uint64_t counter = ohp_filestate_last_run_id(st);
    ohp_class_state none[2];
    uint64_t last = 7;
    FUZZ_CHECK(ohp_filestate_get(st, "no such system", "M1", none, &last) == OHP_OK);
    FUZZ_CHECK(none[0].watermark == OHP_TIME_NONE && none[1].last_snapshot == OHP_TIME_NONE);
    FUZZ_CHECK(last == 0);
    FUZZ_CHECK(ohp_filestate_save(st) == OHP_OK);
    ohp_filestate_close(st);

    size_t len1, len2;
    char *first = slurp(&len1);
    st = NULL;
    FUZZ_CHECK(ohp_filestate_open(&st, path, OHP_FILESTATE_NOWAIT, NULL, msg) == OHP_OK);
    FUZZ_CHECK(ohp_filestate_last_run_id(st) == counter);
    FUZZ_CHECK(ohp_filestate_save(st) == OHP_OK);
    ohp_filestate_close(st);
    char *second = slurp(&len2);
    FUZZ_CHECK(len1 == len2 && memcmp(first, second, len1) == 0);
    free(first);
    free(second);
    return 0;
}
