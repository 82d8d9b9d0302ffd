/* child.c - child processes for tests (see child.h). Every wait is bounded:
 * a child that hangs is killed, never waited on forever, and a server child
 * dies with the test process (PR_SET_PDEATHSIG) if the test crashes. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits for pid up to timeout_ms; the status, or -1 when it still runs. */
static int wait_bounded(pid_t pid, int timeout_ms)
{
    long end = now_ms() + timeout_ms;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ms() >= end)
            return -1;
        sleep_ms(10);
    }
}

static void stdin_from_devnull(void)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        close(fd);
    }
}

bool child_serve_start(child_serve *s, const char *const *extra, int timeout_ms, char *why,
                       size_t why_len)
{
    const char *args[32] = {"--quiet"};
    size_t n = 1;
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return child_serve_start_with(s, args, NULL, timeout_ms, why, why_len);
}

bool child_serve_start_with(child_serve *s, const char *const *extra, const char *stderr_path,
                            int timeout_ms, char *why, size_t why_len)
{
    memset(s, 0, sizeof *s);
    s->out_fd = -1;
    const char *cli = getenv("PW_CLI");
    if (!cli) {
        snprintf(why, why_len, "PW_CLI is not set (the path of the patchwire program)");
        return false;
    }
    const char *argv[64];
    size_t argc = 0;
    char wrap[512] = "";
    const char *w = getenv("PW_SERVE_WRAP");
    if (w)
        snprintf(wrap, sizeof wrap, "%s", w);
    for (char *save = NULL, *word = strtok_r(wrap, " ", &save); word && argc < 16;
         word = strtok_r(NULL, " ", &save))
        argv[argc++] = word;
    argv[argc++] = cli;
    argv[argc++] = "serve";
    argv[argc++] = "--ws";
    argv[argc++] = "127.0.0.1:0";
    for (size_t i = 0; extra && extra[i] && argc < 63; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    int out[2];
    if (pipe(out) != 0) {
        snprintf(why, why_len, "pipe: %s", strerror(errno));
        return false;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_len, "fork: %s", strerror(errno));
        close(out[0]);
        close(out[1]);
        return false;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        close(out[1]);
        stdin_from_devnull();
        int err_fd = stderr_path ? open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
        if (err_fd >= 0) {
            dup2(err_fd, STDERR_FILENO);
            close(err_fd);
        }
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(out[1]);
    s->pid = pid;
    s->out_fd = out[0];

    char line[512];
    size_t len = 0;
    long end = now_ms() + timeout_ms;
    for (;;) {
        long left = end - now_ms();
        struct pollfd p = {.fd = out[0], .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0) {
            snprintf(why, why_len, "%s serve printed no URL line within %d ms", cli, timeout_ms);
            break;
        }
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0) {
            int status = wait_bounded(pid, 2000);
            s->pid = status == -1 ? pid : 0;
            snprintf(why, why_len, "%s serve exited before printing its URL (wait status %d)", cli,
                     status);
            break;
        }
        len += (size_t)n;
        line[len] = '\0';
        char *nl = strchr(line, '\n');
        if (!nl && len < sizeof line - 1)
            continue;
        if (nl)
            *nl = '\0';
        const char *prefix = "patchwire serve: ";
        const char *url = strstr(line, prefix);
        if (!url || strncmp(url + strlen(prefix), "http", 4) != 0) {
            snprintf(why, why_len, "unexpected first line from serve: \"%s\"", line);
            break;
        }
        url += strlen(prefix);
        snprintf(s->url, sizeof s->url, "%s", url);
        const char *rest = url + 4 + (url[4] == 's'); /* after http or https */
        snprintf(s->ws_url, sizeof s->ws_url, "%s%s", url[4] == 's' ? "wss" : "ws", rest);
        return true;
    }
    child_serve_stop(s, 2000);
    return false;
}

int child_serve_stop(child_serve *s, int timeout_ms)
{
    int status = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        status = wait_bounded(s->pid, timeout_ms);
        if (status == -1) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &status, 0);
            status = -1;
        }
        s->pid = 0;
    }
    if (s->out_fd >= 0) {
        close(s->out_fd);
        s->out_fd = -1;
    }
    return status;
}

int child_run(const char *dir, const char *const *argv, int timeout_ms)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0); /* its own group, so a timeout kills its children too */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        stdin_from_devnull();
        if (dir && chdir(dir) != 0) {
            fprintf(stderr, "chdir %s: %s\n", dir, strerror(errno));
            _exit(127);
        }
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int status = wait_bounded(pid, timeout_ms);
    if (status == -1) {
        fprintf(stderr, "%s ran longer than %d ms: killed\n", argv[0], timeout_ms);
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    return status;
}

bool child_has_node_module(const char *dir, const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/node_modules/%s/package.json", dir, name);
    return stat(path, &st) == 0;
}
