/*
 * Fuzz target: the connector's state file parser (examples/onhandpub/state.c).
 * Any content is either loaded, with every row consistent (distinct keys,
 * run ids not above the counter), or refused with a message; never a crash
 * or a leak.  A loaded state answers the job's state-store calls.
 */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz.h"

#include "cli.h"

#include <sys/mman.h>
#include <unistd.h>

/* examples/onhandpub/state.c: the parser without the locking and the file. */
int cli_state_parse_fd(cli_state *st, int fd, char *err);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-state", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t w = write(fd, data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }
    if (lseek(fd, 0, SEEK_SET) != 0)
        abort();

    cli_state st;
    memset(&st, 0, sizeof st);
    st.dirfd = st.lockfd = -1;
    st.path = strdup("fuzz-state");
    if (st.path == NULL)
        abort();
    char err[CLI_ERRSIZE];
    err[0] = '\0';
    int rc = cli_state_parse_fd(&st, fd, err);
    close(fd);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0) {
        FUZZ_CHECK(err[0] != '\0');
    } else {
        for (size_t i = 0; i < st.count; i++) {
            const cli_state_row *r = &st.rows[i];
            FUZZ_CHECK(r->system[0] != '\0' && r->org[0] != '\0');
            FUZZ_CHECK(r->run_id >= 1 && r->run_id <= st.last_run_id);
            FUZZ_CHECK(r->cls[0].last_snapshot != OHP_TIME_NONE ||
                       r->cls[1].last_snapshot != OHP_TIME_NONE);
            for (size_t j = 0; j < i; j++)
                FUZZ_CHECK(strcmp(st.rows[j].system, r->system) != 0 ||
                           strcmp(st.rows[j].org, r->org) != 0);
            ohp_class_state got[2];
            FUZZ_CHECK(cli_state_get(&st, r->system, r->org, got) == 0);
            for (int k = 0; k < 2; k++) {
                FUZZ_CHECK(got[k].watermark == r->cls[k].watermark);
                FUZZ_CHECK(got[k].last_snapshot == r->cls[k].last_snapshot);
                FUZZ_CHECK((got[k].watermark == OHP_TIME_NONE) ==
                           (got[k].last_snapshot == OHP_TIME_NONE));
                FUZZ_CHECK(got[k].watermark <= got[k].last_snapshot);
            }
        }
        ohp_class_state none[2];
        FUZZ_CHECK(cli_state_get(&st, "no such system", "M1", none) == 0);
        FUZZ_CHECK(none[0].watermark == OHP_TIME_NONE && none[1].last_snapshot == OHP_TIME_NONE);
    }
    cli_state_close(&st);
    return 0;
}
