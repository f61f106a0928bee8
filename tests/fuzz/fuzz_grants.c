/*
 * Fuzz target: the connector's grants file (examples/onhandpub/state.c,
 * cli_grants_authorize).  Any content gives a clear answer: granted,
 * not granted, or an error; never a crash.  A grant is only ever given
 * to the user asked about, for the publishing privilege.
 */
#define _GNU_SOURCE /* memfd_create */
#include "fuzz.h"

#include "cli.h"

#include <sys/mman.h>
#include <unistd.h>

static int mem_fd(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz-grants", MFD_CLOEXEC);
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
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const users[] = {"ALICE", "", "BOB"};
    for (size_t u = 0; u < sizeof users / sizeof users[0]; u++) {
        cli_grants g;
        memset(&g, 0, sizeof g);
        g.path = "fuzz-grants";
        g.fd = mem_fd(data, size);
        int granted = -1;
        int rc = cli_grants_authorize(&g, users[u], OHP_PRIVILEGE, &granted);
        FUZZ_CHECK(rc == 0 || rc == -1);
        /* On failure (-1) *granted may hold what was seen before the bad line: the
         * library fails the run with OHP_EAUTH whatever it says. */
        FUZZ_CHECK(granted == 0 || granted == 1);
        /* The same file never grants another privilege. */
        if (lseek(g.fd, 0, SEEK_SET) != 0)
            abort();
        int other = -1;
        rc = cli_grants_authorize(&g, users[u], "SOME_OTHER_PRIV", &other);
        FUZZ_CHECK(other == 0);
        cli_grants_close(&g);
        FUZZ_CHECK(g.fd == -1);
    }
    return 0;
}
