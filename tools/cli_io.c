/* cli_io.c - whole-input reads with a size bound, and checked writes.
 *
 * The one idea: input is read into memory before anything is decoded, so the
 * read is where the --max-bytes limit is enforced; growth is capped at the
 * limit plus one byte (the byte that proves the input is too large), so a
 * huge or endless stdin costs no more memory than the limit allows. */
#include "cli_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLI_READ_CHUNK ((size_t)64 << 10)

static int read_fd(int fd, size_t max, uint8_t **out, size_t *len, char *why, size_t whylen)
{
    size_t ceiling = max == SIZE_MAX ? SIZE_MAX : max + 1;
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;

    /* A regular file tells its size: refuse early, allocate once. */
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
        if ((uintmax_t)st.st_size > (uintmax_t)max) {
            snprintf(why, whylen, "input is %jd bytes, more than the limit of %zu",
                     (intmax_t)st.st_size, max);
            return -1;
        }
        cap = (size_t)st.st_size + 1; /* + 1 to see EOF without growing */
        if (!(buf = malloc(cap))) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
    }
    for (;;) {
        if (n == cap) {
            if (cap >= ceiling) {
                free(buf);
                snprintf(why, whylen, "input is more than the limit of %zu bytes", max);
                return -1;
            }
            size_t grow = cap < CLI_READ_CHUNK ? CLI_READ_CHUNK : cap;
            size_t next = grow > ceiling - cap ? ceiling : cap + grow;
            uint8_t *p = realloc(buf, next ? next : 1);
            if (!p) {
                free(buf);
                snprintf(why, whylen, "out of memory");
                return -1;
            }
            buf = p;
            cap = next;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            snprintf(why, whylen, "cannot read: %s", strerror(errno));
            free(buf);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > max) {
        free(buf);
        snprintf(why, whylen, "input is more than the limit of %zu bytes", max);
        return -1;
    }
    if (!buf && !(buf = malloc(1))) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

int cli_read_all(const char *path, size_t max, uint8_t **out, size_t *len, char *why, size_t whylen)
{
    *out = NULL;
    *len = 0;
    if (strcmp(path, "-") == 0)
        return read_fd(STDIN_FILENO, max, out, len, why, whylen);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return -1;
    }
    int rc = read_fd(fd, max, out, len, why, whylen);
    close(fd);
    return rc;
}

int cli_write_all(FILE *f, const void *p, size_t n)
{
    errno = 0;
    if (n && fwrite(p, 1, n, f) != n) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    if (fflush(f) != 0 || ferror(f)) {
        if (!errno)
            errno = EIO;
        return -1;
    }
    return 0;
}
