/* Mapping the pages of a large block in one call instead of one fault per page. */
#define _DEFAULT_SOURCE /* madvise() */
#include "ohp_internal.h"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

void ohp_prefault(void *p, size_t n)
{
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    if (n < OHP_PREFAULT_MIN || p == NULL)
        return;
    long ps = sysconf(_SC_PAGESIZE);
    uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096;
    uintptr_t b = ((uintptr_t)p + page - 1) & ~(page - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(page - 1);
    /* a hint: kernels before 5.14 refuse it, and the pages then fault one by one as before */
    if (e > b)
        (void)madvise((void *)b, e - b, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)n;
#endif
}
