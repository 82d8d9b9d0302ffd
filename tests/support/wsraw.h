/* wsraw.h - a raw WebSocket client over a plain socket, and `patchwire serve`
 * run as a child process, for tests that must send what no well-behaved
 * library would: bad frames, half frames, floods, abrupt closes.
 *
 * Every call is bounded in time; failures return -1 (or NULL), never abort. */
#ifndef PW_TEST_WSRAW_H
#define PW_TEST_WSRAW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "child.h"

enum {
    WS_TIMEOUT = -2,
    WS_EOF = -1,
    WS_CONT = 0,
    WS_TEXT = 1,
    WS_BINARY = 2,
    WS_CLOSE = 8,
    WS_PING = 9,
    WS_PONG = 10
};

/* A `patchwire serve` child (child.h), the port it printed, its stderr log. */
typedef struct served {
    child_serve c;
    int port;
    char log_path[64];
} served;

/* Starts `PW_CLI serve --ws 127.0.0.1:0 --no-static EXTRA...` with its
 * stderr in log_path (PW_SERVE_WRAP runs it under a tool such as valgrind)
 * and waits up to timeout_ms for the URL it prints. 0 or -1. */
int served_start(served *s, const char *const *extra, int timeout_ms);
/* SIGTERM, then waits up to timeout_ms (SIGKILL after). Returns the exit
 * status (128 + signal when killed by one), -1 if nothing was running. */
int served_stop(served *s, int timeout_ms);
/* The server's resident memory in KiB, from /proc; -1 if unknown. */
long served_rss_kib(const served *s);
/* A field of /proc/PID/status in KiB ("VmData:", ...); -1 if unknown. */
long served_status_kib(const served *s, const char *field);
/* CPU time (user + system) the server has used, in ms; -1 if unknown. */
long served_cpu_ms(const served *s);
/* Whether the process runs the program itself, not under a tool such as
 * valgrind (judged by /proc/PID/exe). */
bool served_is_native(const served *s);
/* Whether the process is still running. */
bool served_alive(const served *s);

/* Opens a WebSocket to 127.0.0.1:port, path "/" plus query (may be NULL),
 * asking for subprotocol proto (NULL: none). The socket fd, or -1. */
int ws_open(int port, const char *query, const char *proto, int timeout_ms);
/* The same from the local address src (a loopback address such as
 * "127.0.0.2"; NULL: any). */
int ws_open_from(const char *src, int port, const char *query, const char *proto, int timeout_ms);
/* A plain TCP connection to 127.0.0.1:port that sends nothing; the fd or -1. */
int tcp_open(int port);
/* Sends one frame (masked, as a client must): fin, opcode, payload. */
int ws_send_frame(int fd, bool fin, int opcode, const void *p, size_t n);
/* The HTTP status the server answers an upgrade request with (101 when it
 * accepts), or -1. */
int ws_upgrade_status(int port, const char *query, int timeout_ms);
/* Sends raw bytes as they are. */
int ws_send_raw(int fd, const void *p, size_t n);
/* Reads one whole message (continuations joined, pings answered): its
 * opcode and bytes (malloc'd, NUL-terminated, caller frees). A close frame
 * is returned as WS_CLOSE with its payload. WS_TIMEOUT when nothing came
 * in time, WS_EOF on end of stream or error (nothing to free then). */
int ws_recv(int fd, int timeout_ms, uint8_t **out, size_t *n);
void ws_close(int fd);

#endif
