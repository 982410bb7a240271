/* A NovoGrad port in C99, checked live by the conformance kit:
 *
 *     cc -std=c99 -O2 -o port port.c -lm
 *     novograd-ref verify --impl exec:./port --preset optax
 *
 * The math is optax's novograd (the "optax" preset), per leaf with g its gradient:
 *     nu = |g|^2 on step 1, else b2 nu + (1 - b2) |g|^2     (|g|: the leaf's L2 norm)
 *     u  = g / (sqrt(nu + eps_root) + eps) + weight_decay p
 *     mu = u on step 1, else b1 mu + u
 *     p  = p - lr mu
 * computed in the run's dtype: R(x) rounds each result to it (a float32 run computes
 * in float32, so a squared norm can overflow to infinity as in optax). */
#define NOVOGRAD_REF_IMPLEMENTATION
#include "novograd_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { double b1, b2, eps, eps_root, weight_decay; double *nu, **mu; } novograd;

/* The canonical hyperparameters this port has, and the values it needs for the rest. */
static const char *known[] = {"b1", "b2", "eps", "eps_root", "weight_decay",
                              "luc_trust", "luc_eps"};
static const char *required[][2] = {
    {"weight_decay_mode", "inside"}, {"grad_averaging", "false"}, {"amsgrad", "false"},
    {"luc", "false"}, {"adam_debias", "false"}, {"maximize", "false"}};

static const char *configure(nr_run *run) {
    static char reason[200];
    novograd *opt;
    int i, j, ok;
    for (i = 0; i < run->n_hyper; i++) {
        const char *name = run->hyper[i].name, *value = run->hyper[i].value;
        ok = 0;
        for (j = 0; j < (int)(sizeof known / sizeof *known); j++)
            ok |= strcmp(name, known[j]) == 0;
        for (j = 0; j < (int)(sizeof required / sizeof *required); j++)
            ok |= strcmp(name, required[j][0]) == 0 && strcmp(value, required[j][1]) == 0;
        if (!ok) {
            snprintf(reason, sizeof reason, "no %s = %s", name, value);
            return reason;  /* the kit skips this case, with the reason */
        }
    }
    opt = calloc(1, sizeof *opt);
    opt->b1 = nr_number(run, "b1");
    opt->b2 = nr_number(run, "b2");
    opt->eps = nr_number(run, "eps");
    opt->eps_root = nr_number(run, "eps_root");
    opt->weight_decay = nr_number(run, "weight_decay");
    run->state = opt;
    return NULL;
}

static void init(nr_run *run) {
    novograd *opt = run->state;
    int i;
    opt->nu = calloc(run->n_leaves, sizeof(double));
    opt->mu = calloc(run->n_leaves, sizeof(double *));
    for (i = 0; i < run->n_leaves; i++)
        opt->mu[i] = calloc(run->leaves[i].size ? run->leaves[i].size : 1, sizeof(double));
}

#define R(x) nr_round(run, (x))

static void step(nr_run *run) {
    novograd *opt = run->state;
    int i;
    long k;
    for (i = 0; i < run->n_leaves; i++) {
        nr_leaf *leaf = &run->leaves[i];
        double sum = 0.0, norm, square, den;
        for (k = 0; k < leaf->size; k++) sum = R(sum + R(leaf->grad[k] * leaf->grad[k]));
        norm = R(sqrt(sum));
        square = R(norm * norm);  /* optax squares the norm it took */
        opt->nu[i] = run->step == 1 ? square
                   : R(R(opt->b2 * opt->nu[i]) + R(R(1 - opt->b2) * square));
        den = R(R(sqrt(R(opt->nu[i] + opt->eps_root))) + opt->eps);
        for (k = 0; k < leaf->size; k++) {
            double u = R(R(leaf->grad[k] / den) + R(opt->weight_decay * leaf->param[k]));
            opt->mu[i][k] = run->step == 1 ? u : R(R(opt->b1 * opt->mu[i][k]) + u);
            leaf->param[k] = R(leaf->param[k] - R(run->lr * opt->mu[i][k]));
        }
    }
}

int main(void) { return nr_serve(configure, init, step); }
