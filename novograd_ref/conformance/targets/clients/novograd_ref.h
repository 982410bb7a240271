/* novograd_ref.h: the novograd-ref protocol, version 1, for a port written in C99.
 *
 * One header, the C standard library only. In exactly one source file:
 *
 *     #define NOVOGRAD_REF_IMPLEMENTATION
 *     #include "novograd_ref.h"
 *
 * The port writes three functions and hands them to nr_serve from main:
 *
 *     const char *configure(nr_run *run);  hyperparameters known: NULL to accept,
 *                                          or the reason this configuration is
 *                                          unsupported (the kit skips the case)
 *     void init(nr_run *run);   leaves, initial parameters and learning rate known
 *     void step(nr_run *run);   run->leaves[i].grad holds this step's gradients and
 *                               run->lr its rate: update run->leaves[i].param in place
 *     int main(void) { return nr_serve(configure, init, step); }
 *
 * Values reach the port as doubles whatever the run's dtype (run->dtype) and go back
 * rounded to it; nr_round(run, x) rounds a result to that dtype, so a port can compute
 * in it (every operation rounded) as its framework would. nr_fail(fmt, ...) reports an
 * error to the kit and exits. Standard output belongs to the protocol: print
 * diagnostics to stderr. The protocol: docs/exec-protocol.md of novograd-ref. */
#ifndef NOVOGRAD_REF_H
#define NOVOGRAD_REF_H

#include <stddef.h>

#define NR_PROTOCOL_VERSION 1

typedef struct { char *name; char *value; } nr_setting;  /* value: text after the name */

typedef struct {
    char *name;     /* the leaf's path in the parameter tree */
    int ndim;       /* number of dimensions (0: a scalar) */
    long *shape;    /* ndim sizes, row-major (C) order */
    long size;      /* number of elements: the product of shape */
    double *param;  /* the parameters: initial, then the port's after each step */
    double *grad;   /* this step's gradients */
} nr_leaf;

typedef struct nr_run {
    char dtype[16];                      /* "float16", "float32" or "float64" */
    int n_hyper; nr_setting *hyper;      /* canonical hyperparameters (b1, b2, eps, ...) */
    int n_keyword; nr_setting *keyword;  /* the same in the preset's own keywords */
    int lr_is_table;                     /* 0: one constant rate, 1: a rate per step */
    long lr_count; double *lr_table;     /* the rates (lr_count == 1 when constant) */
    int n_leaves; nr_leaf *leaves;       /* in the kit's order */
    long step;                           /* the step being taken, 1-based */
    double lr;                           /* its learning rate */
    void *state;                         /* the port's own */
} nr_run;

typedef const char *(*nr_configure_fn)(nr_run *run);
typedef void (*nr_step_fn)(nr_run *run);

int nr_serve(nr_configure_fn configure, nr_step_fn init, nr_step_fn step);
void nr_fail(const char *format, ...);
const char *nr_text(const nr_run *run, const char *name);  /* hyper value or NULL */
double nr_number(const nr_run *run, const char *name);     /* hyper value; fails if absent */
int nr_flag(const nr_run *run, const char *name);          /* hyper is "true" */
const char *nr_keyword(const nr_run *run, const char *name);  /* keyword value or NULL */
double nr_round(const nr_run *run, double x);  /* x rounded to the run's dtype, to compute in it */

#endif /* NOVOGRAD_REF_H */

#ifdef NOVOGRAD_REF_IMPLEMENTATION
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void nr_fail(const char *format, ...) {
    va_list args;
    fputs("error ", stdout);
    va_start(args, format);
    vfprintf(stdout, format, args);
    va_end(args);
    fputc('\n', stdout);
    fflush(stdout);
    exit(1);
}

static void *nr_alloc(size_t n) {
    void *p = calloc(n ? n : 1, 1);
    if (!p) nr_fail("out of memory");
    return p;
}

/* One line of standard input, without its newline (the buffer is reused); exits
 * quietly when the kit has gone (end of input). */
static char *nr_line(void) {
    static char *buf = NULL;
    static size_t cap = 0;
    size_t len = 0;
    int c;
    while ((c = getchar()) != EOF && c != '\n') {
        if (len + 1 >= cap) {
            cap = cap ? 2 * cap : 4096;
            buf = realloc(buf, cap);
            if (!buf) nr_fail("out of memory");
        }
        buf[len++] = (char)c;
    }
    if (c == EOF && len == 0) exit(0);
    if (!buf) buf = nr_alloc(1);
    buf[len] = '\0';
    return buf;
}

/* The next space-separated word of *cursor (NUL-terminated in place), "" at the end. */
static char *nr_word(char **cursor) {
    char *p = *cursor, *start;
    while (*p == ' ') p++;
    start = p;
    while (*p && *p != ' ') p++;
    if (*p) *p++ = '\0';
    *cursor = p;
    return start;
}

/* A line that must start with keyword: the rest of it. */
static char *nr_expect(const char *keyword) {
    char *cursor = nr_line(), *word = nr_word(&cursor);
    if (strcmp(word, keyword) != 0) nr_fail("expected a '%s' line, got '%.60s'", keyword, word);
    return cursor;
}

static char *nr_copy(const char *s) { return strcpy(nr_alloc(strlen(s) + 1), s); }

static long nr_long(char **cursor, const char *what) {
    char *word = nr_word(cursor), *end;
    long v = strtol(word, &end, 10);
    if (!*word || *end || v < 0) nr_fail("expected %s, got '%s'", what, word);
    return v;
}

static int nr_digits(const nr_run *run) {
    return run->dtype[5] == '1' ? 4 : run->dtype[5] == '3' ? 8 : 16;
}

static double nr_half_to_double(unsigned h) {
    int exp = (h >> 10) & 0x1f;
    double frac = h & 0x3ff, v;
    if (exp == 0) v = ldexp(frac, -24);                        /* subnormal */
    else if (exp == 31) v = frac ? NAN : INFINITY;
    else v = ldexp(frac + 1024, exp - 25);
    return (h & 0x8000) ? -v : v;
}

/* A double rounded once to float16 (to nearest, ties to even), as its bits. */
static unsigned nr_double_to_half(double v) {
    unsigned sign = signbit(v) ? 0x8000u : 0u;
    double a = fabs(v), q;
    int e;
    if (isnan(v)) return sign | 0x7e00u;
    if (a >= 65520.0) return sign | 0x7c00u;                  /* rounds to infinity */
    if (a < ldexp(1.0, -14))                                   /* subnormal: 2^-24 units */
        return sign | (unsigned)nearbyint(ldexp(a, 24));        /* 1024 is the first normal */
    q = nearbyint(ldexp(frexp(a, &e), 11));                    /* 11 significant bits */
    if (q == 2048.0) { q = 1024.0; e += 1; }
    if (e + 14 >= 31) return sign | 0x7c00u;
    return sign | (unsigned)((e + 14) << 10) | (unsigned)(q - 1024.0);
}

double nr_round(const nr_run *run, double x) {
    int digits = nr_digits(run);
    return digits == 16 ? x : digits == 8 ? (double)(float)x
                                          : nr_half_to_double(nr_double_to_half(x));
}

/* Read the values of one "param"/"grad" line into out (size of them). */
static void nr_read_values(const nr_run *run, const char *keyword, long size, double *out) {
    char *cursor = nr_expect(keyword), *word, *end;
    int digits = nr_digits(run);
    long i;
    for (i = 0; i < size; i++) {
        uint64_t bits;
        word = nr_word(&cursor);
        bits = strtoull(word, &end, 16);
        if ((int)strlen(word) != digits || *end) nr_fail("bad value '%.40s'", word);
        if (digits == 16) memcpy(&out[i], &bits, 8);
        else if (digits == 8) { uint32_t b = (uint32_t)bits; float f; memcpy(&f, &b, 4); out[i] = f; }
        else out[i] = nr_half_to_double((unsigned)bits);
    }
    if (*nr_word(&cursor)) nr_fail("more than %ld values for a leaf", size);
}

/* Write one "param" line: values rounded to the run's dtype, as bits; the leaf keeps
 * the rounded values, so the next step starts from what the kit received. */
static void nr_write_values(const nr_run *run, nr_leaf *leaf) {
    int digits = nr_digits(run);
    long i;
    fputs("param", stdout);
    for (i = 0; i < leaf->size; i++) {
        double v = leaf->param[i] = nr_round(run, leaf->param[i]);
        float f = (float)v;
        uint64_t b64;
        uint32_t b32;
        memcpy(&b64, &v, 8);
        memcpy(&b32, &f, 4);
        if (digits == 16) printf(" %016" PRIx64, b64);
        else if (digits == 8) printf(" %08" PRIx32, b32);
        else printf(" %04x", nr_double_to_half(v));
    }
    fputc('\n', stdout);
}

static void nr_read_settings(int n, nr_setting *out, const char *keyword) {
    int i;
    for (i = 0; i < n; i++) {
        char *cursor = nr_expect(keyword);
        out[i].name = nr_copy(nr_word(&cursor));
        out[i].value = nr_copy(cursor);
    }
}

static const char *nr_find(int n, const nr_setting *settings, const char *name) {
    int i;
    for (i = 0; i < n; i++)
        if (strcmp(settings[i].name, name) == 0) return settings[i].value;
    return NULL;
}

const char *nr_text(const nr_run *run, const char *name) { return nr_find(run->n_hyper, run->hyper, name); }
const char *nr_keyword(const nr_run *run, const char *name) { return nr_find(run->n_keyword, run->keyword, name); }

double nr_number(const nr_run *run, const char *name) {
    const char *text = nr_text(run, name);
    char *end;
    double v;
    if (!text) nr_fail("the kit sent no hyperparameter '%s'", name);
    v = strtod(text, &end);
    if (end == text || *end) nr_fail("hyperparameter %s: '%s' is not a number", name, text);
    return v;
}

int nr_flag(const nr_run *run, const char *name) {
    return nr_text(run, name) != NULL && strcmp(nr_text(run, name), "true") == 0;
}

int nr_serve(nr_configure_fn configure, nr_step_fn init, nr_step_fn step) {
    nr_run run;
    char *cursor, *word;
    const char *reason;
    int i;
    memset(&run, 0, sizeof run);
    /* Handshake: both sides say their version; a mismatch is the kit's to report. */
    cursor = nr_line();
    word = nr_word(&cursor);
    printf("novograd-ref-protocol %d\n", NR_PROTOCOL_VERSION);
    fflush(stdout);
    if (strcmp(word, "novograd-ref-protocol") != 0 || atoi(cursor) != NR_PROTOCOL_VERSION)
        return 1;
    /* configure DTYPE H K, then the hyper and keyword lines. */
    cursor = nr_expect("configure");
    word = nr_word(&cursor);
    if (strcmp(word, "float16") && strcmp(word, "float32") && strcmp(word, "float64"))
        nr_fail("unknown dtype '%.20s'", word);
    strcpy(run.dtype, word);
    run.n_hyper = (int)nr_long(&cursor, "the number of hyper lines");
    run.n_keyword = (int)nr_long(&cursor, "the number of keyword lines");
    run.hyper = nr_alloc(run.n_hyper * sizeof *run.hyper);
    run.keyword = nr_alloc(run.n_keyword * sizeof *run.keyword);
    nr_read_settings(run.n_hyper, run.hyper, "hyper");
    nr_read_settings(run.n_keyword, run.keyword, "keyword");
    reason = configure(&run);
    printf(reason ? "unsupported %s\n" : "ready\n", reason);
    fflush(stdout);
    if (reason) return 0;
    /* init N, the rate line, then each leaf's "leaf" and "param" lines. */
    cursor = nr_expect("init");
    run.n_leaves = (int)nr_long(&cursor, "the number of leaves");
    cursor = nr_expect("lr");
    run.lr_is_table = strcmp(nr_word(&cursor), "table") == 0;
    run.lr_count = run.lr_is_table ? nr_long(&cursor, "the number of rates") : 1;
    run.lr_table = nr_alloc(run.lr_count * sizeof(double));
    for (i = 0; i < run.lr_count; i++) run.lr_table[i] = strtod(nr_word(&cursor), NULL);
    run.leaves = nr_alloc(run.n_leaves * sizeof *run.leaves);
    for (i = 0; i < run.n_leaves; i++) {
        nr_leaf *leaf = &run.leaves[i];
        int d;
        cursor = nr_expect("leaf");
        leaf->ndim = (int)nr_long(&cursor, "the number of dimensions");
        leaf->shape = nr_alloc(leaf->ndim * sizeof(long));
        leaf->size = 1;
        for (d = 0; d < leaf->ndim; d++) leaf->size *= leaf->shape[d] = nr_long(&cursor, "a size");
        leaf->name = nr_copy(cursor);                   /* the rest of the line */
        leaf->param = nr_alloc(leaf->size * sizeof(double));
        leaf->grad = nr_alloc(leaf->size * sizeof(double));
        nr_read_values(&run, "param", leaf->size, leaf->param);
    }
    init(&run);
    puts("ready");
    fflush(stdout);
    /* step K LR and the gradients, answered with the parameters; until "end". */
    for (;;) {
        cursor = nr_line();
        word = nr_word(&cursor);
        if (strcmp(word, "end") == 0) return 0;
        if (strcmp(word, "step") != 0) nr_fail("expected 'step' or 'end', got '%.60s'", word);
        run.step = nr_long(&cursor, "the step number");
        run.lr = strtod(nr_word(&cursor), NULL);
        for (i = 0; i < run.n_leaves; i++)
            nr_read_values(&run, "grad", run.leaves[i].size, run.leaves[i].grad);
        step(&run);
        for (i = 0; i < run.n_leaves; i++) nr_write_values(&run, &run.leaves[i]);
        fflush(stdout);
    }
}
#endif /* NOVOGRAD_REF_IMPLEMENTATION */
