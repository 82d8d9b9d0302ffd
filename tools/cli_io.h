/* cli_io.h - whole-input reads with a size bound, and checked writes. */
#ifndef PW_CLI_IO_H
#define PW_CLI_IO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Reads all of path ("-" for standard input) into a new malloc'd buffer that
 * the caller frees (*out, *len; *out is non-NULL even for empty input). More
 * than max bytes is an error: the buffer never grows past max + 1 bytes.
 * Returns 0, or -1 with a one-line reason in why. */
int cli_read_all(const char *path, size_t max, uint8_t **out, size_t *len, char *why,
                 size_t whylen);

/* Writes n bytes to f and flushes. Returns 0, or -1 with errno set. */
int cli_write_all(FILE *f, const void *p, size_t n);

#endif
