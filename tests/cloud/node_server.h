/* node_server.h — test helper: start tests/cloud/server.mjs under node on a loopback port, talk to
 * its
 * /__log and /__reset endpoints, stop it. The server exits when our end of its stdin pipe closes,
 * so a crashed test leaves no server behind. Header-only (static functions) for the C tests. */
#ifndef GR_TESTS_NODE_SERVER_H
#define GR_TESTS_NODE_SERVER_H

#include "core/json.h"
#include "net/http.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct node_server {
    pid_t pid;
    int stdin_fd;
    int port;
    int tls_port;  /* HTTPS with a self-signed certificate (0: none) */
    char base[64]; /* http://127.0.0.1:PORT */
} node_server;

static int node_server_start(node_server *s) {
    int in[2], out[2];
    if (pipe(in) || pipe(out)) return -1;
    char script[1024];
    snprintf(script, sizeof script, "%s/tests/cloud/server.mjs", GR_SOURCE_DIR);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("node", "node", script, "--stdin-lifetime", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char line[64] = {0};
    size_t n = 0;
    while (n + 1 < sizeof line) {
        ssize_t r = read(out[0], line + n, 1);
        if (r <= 0 || line[n] == '\n') break;
        n++;
    }
    close(out[0]);
    s->pid = pid;
    s->stdin_fd = in[1];
    char *sp = strchr(line, ' ');
    s->port = atoi(line);
    s->tls_port = sp ? atoi(sp + 1) : 0;
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
    return s->port > 0 ? 0 : -1;
}

static void node_server_stop(node_server *s) {
    if (s->stdin_fd >= 0) close(s->stdin_fd);
    s->stdin_fd = -1;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    s->pid = 0;
}

typedef struct ns_buf {
    char *p;
    size_t len, cap;
} ns_buf;

static int ns_buf_add(void *user, int status, const void *data, size_t len) {
    (void)status;
    ns_buf *b = user;
    if (b->len + len + 1 > b->cap) {
        size_t cap = (b->len + len + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) return 1;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = 0;
    return 0;
}

/* GET or POST a path of the server; the body is returned parsed (NULL on failure). */
static gr_json *node_server_call(node_server *s, const char *method, const char *path) {
    char url[256];
    snprintf(url, sizeof url, "%s%s", s->base, path);
    gr_http_request rq = {.method = method, .url = url};
    ns_buf b = {0};
    int status = 0;
    gr_json *doc = NULL;
    if (gr_http_perform(&rq, NULL, ns_buf_add, &b, &status, NULL, 0) == GR_OK && status == 200)
        gr_json_parse(b.p, b.len, NULL, &doc, NULL, 0);
    free(b.p);
    return doc;
}

static void node_server_reset(node_server *s) {
    gr_json *d = node_server_call(s, "POST", "/__reset");
    gr_json_free(d);
}

#endif
