/* access.c - the token file of `patchwire serve` (see access.h).
 *
 * The one idea: the file is read once into a flat list of rules, checked in
 * order; tokens are compared in constant time so a peer cannot guess one a
 * byte at a time. */
#include "access.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line's words: token, mode, keys (none: every key). */
typedef struct rule {
    char **words;
    size_t n;
} rule;

struct access_table {
    rule *rules;
    size_t n;
};

static void rule_clear(rule *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->words[i]);
    free(r->words);
}

void access_table_free(access_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++)
        rule_clear(&t->rules[i]);
    free(t->rules);
    free(t);
}

/* Splits a line into words; false on out of memory (r holds what it got). */
static bool split(char *line, rule *r)
{
    for (char *save = NULL, *w = strtok_r(line, " \t\r\n", &save); w;
         w = strtok_r(NULL, " \t\r\n", &save)) {
        char **grown = realloc(r->words, (r->n + 1) * sizeof *grown);
        if (!grown)
            return false;
        r->words = grown;
        if (!(grown[r->n] = strdup(w)))
            return false;
        r->n++;
    }
    return true;
}

static bool parse_line(access_table *t, char *line, size_t lineno, char *why, size_t why_cap)
{
    rule r = {0};
    if (!split(line, &r)) {
        snprintf(why, why_cap, "out of memory");
        rule_clear(&r);
        return false;
    }
    if (r.n == 0 || r.words[0][0] == '#') {
        rule_clear(&r);
        return true;
    }
    if (r.n < 2 || (strcmp(r.words[1], "rw") != 0 && strcmp(r.words[1], "r") != 0)) {
        snprintf(why, why_cap, "line %zu: expected 'TOKEN rw|r [KEY...]'", lineno);
        rule_clear(&r);
        return false;
    }
    rule *grown = realloc(t->rules, (t->n + 1) * sizeof *grown);
    if (!grown) {
        snprintf(why, why_cap, "out of memory");
        rule_clear(&r);
        return false;
    }
    t->rules = grown;
    t->rules[t->n++] = r;
    return true;
}

access_table *access_table_load(const char *path, char *why, size_t why_cap)
{
    why[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(why, why_cap, "cannot open: %s", strerror(errno));
        return NULL;
    }
    access_table *t = calloc(1, sizeof *t);
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    bool ok = t != NULL;
    if (!ok)
        snprintf(why, why_cap, "out of memory");
    while (ok && getline(&line, &cap, f) >= 0)
        ok = parse_line(t, line, ++lineno, why, why_cap);
    if (ok && ferror(f)) {
        snprintf(why, why_cap, "cannot read");
        ok = false;
    }
    free(line);
    fclose(f);
    if (!ok) {
        access_table_free(t);
        return NULL;
    }
    return t;
}

/* Equal strings, in time that depends on the lengths only. */
static bool token_equal(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = na != nb;
    for (size_t i = 0; i < na; i++)
        diff |= (unsigned char)a[i] ^ (unsigned char)b[i % (nb ? nb : 1)];
    return diff == 0;
}

static bool rule_has_key(const rule *r, const char *key, size_t key_len)
{
    if (r->n == 2)
        return true;
    for (size_t i = 2; i < r->n; i++)
        if (strlen(r->words[i]) == key_len && memcmp(r->words[i], key, key_len) == 0)
            return true;
    return false;
}

static bool rule_names(const rule *r, const char *identity)
{
    return strcmp(r->words[0], "*") == 0 || token_equal(r->words[0], identity ? identity : "");
}

bool access_table_admits(const char *identity, void *userdata)
{
    const access_table *t = userdata;
    bool any = false;
    for (size_t i = 0; i < t->n; i++) /* every rule: the time does not tell which matched */
        any |= rule_names(&t->rules[i], identity);
    return any;
}

bool access_table_check(const char *identity, const char *key, size_t key_len, pw_access what,
                        void *userdata)
{
    const access_table *t = userdata;
    for (size_t i = 0; i < t->n; i++) {
        const rule *r = &t->rules[i];
        if (!rule_names(r, identity))
            continue;
        if (!rule_has_key(r, key, key_len))
            continue;
        return what == PW_ACCESS_READ || strcmp(r->words[1], "rw") == 0;
    }
    return false;
}
