/* HTTP server framework for every movierec service: h2o on libuv, one loop per thread
 * (each with its own SO_REUSEPORT listener), a route table with {param} segments, JSON
 * responses and errors, asynchronous responses, CORS, per-route metrics and graceful stop. */
#ifndef MR_HTTP_H
#define MR_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

/* ---- Handles -------------------------------------------------------------------------- */

/* The server: options, route table, loop threads. Created by http_server_create, freed by
 * http_server_free. */
typedef struct http_server http_server;

/* One loop thread of a server: its libuv loop plus the user's per-loop data (e.g. a hiredis
 * async context attached with the libuv adapter). Owned by the server; valid from the
 * loop_init hook until the loop_fini hook returns. */
typedef struct http_loop http_loop;

/* One request being answered. Borrowed by the handler; valid until ONE of the http_send*
 * functions has been called for it (after that it is freed: do not touch it again). */
typedef struct http_req http_req;

/* ---- Options -------------------------------------------------------------------------- */

/* Route handler. Called on the request's loop thread with the request and the user pointer
 * given to http_route. Either respond before returning (http_send_json, ...) or keep `req`
 * and respond later ON THE SAME LOOP THREAD (e.g. from a hiredis callback on that loop, or
 * from a function queued with http_loop_post). Every request must be answered exactly once,
 * even if the client has gone away meanwhile (the send is then dropped and `req` freed). */
typedef void (*http_handler_fn)(http_req *req, void *user);

/* Per-loop hooks: loop_init runs once on each loop thread after its loop exists and before it
 * accepts (connect Redis there, store the state with http_loop_set_data); a non-zero return
 * makes http_server_start fail with that status. loop_fini runs once on each loop thread
 * after it stopped accepting and every pending request was answered or the grace period
 * passed; it must release what loop_init acquired and close its uv handles. */
typedef int (*http_loop_init_fn)(http_loop *loop, void *user);
typedef void (*http_loop_fini_fn)(http_loop *loop, void *user);

typedef struct http_opts {
  const char *listen;      /* address to bind; default "127.0.0.1" */
  int port;                /* 0 = ephemeral (read it back with http_server_port); default 0 */
  int threads;             /* loop threads; <= 0 = number of online cores */
  size_t max_body;         /* larger request bodies get a JSON 413; 0 = 64 KiB. Bodies over
                              max(16 x max_body, 1 MiB) are refused by h2o itself while reading
                              them (413 with a text body: h2o buffers whole bodies first) */
  const char *cors_origin; /* Access-Control-Allow-Origin value ("*" allowed); NULL = no CORS */
  double stop_grace_s;     /* after a stop, wait this long for pending async requests; 0 = 2 s */
  http_loop_init_fn loop_init; /* may be NULL */
  http_loop_fini_fn loop_fini; /* may be NULL */
  void *loop_user;             /* passed to both hooks */
} http_opts;

/* Fills `o` with the defaults above (every pointer NULL except listen). */
void http_opts_default(http_opts *o);

/* ---- Server lifecycle ----------------------------------------------------------------- */

/* Creates a server from `o` (strings are copied). Nothing is bound until http_server_start.
 * Returns 0 and *out, or MR_EINVAL / MR_ENOMEM. */
int http_server_create(const http_opts *o, http_server **out);

/* Adds a route: `method` ("GET", "POST", ...; exact, case-sensitive), `pattern` an absolute
 * path whose segments are literals or `{name}` (matches one non-empty segment, available via
 * http_req_param), e.g. "/recommendations/{id}/sections". Routes are tried in the order they
 * were added; a last segment `*` (as in "/static/" followed by `*`) matches the rest of the path
 * (param "*"), for static files. Only before http_server_start. Strings are copied. Returns 0,
 * MR_EINVAL or MR_ENOMEM. Unmatched paths get 404, a path matched with another method 405 (with an
 * Allow header), OPTIONS on a matched path 204 with the CORS headers when cors_origin is set. */
int http_route(http_server *s, const char *method, const char *pattern, http_handler_fn fn,
               void *user);

/* Binds one SO_REUSEPORT listener per loop thread, starts the threads, runs every loop_init
 * and returns once all loops accept. Call it once per server. Sets SIGPIPE to SIG_IGN for the
 * process (a client closing mid-write must not kill it); loop threads block SIGINT/SIGTERM. On
 * failure everything started is stopped again and a negative status returned (bind errors:
 * mr_from_errno of the cause; the handle's http_server_errstr says which address). */
int http_server_start(http_server *s);

/* The TCP port the server listens on (after start; useful with port 0). */
int http_server_port(const http_server *s);

/* Asks every loop to stop: listeners close at once, pending requests get stop_grace_s to be
 * answered, loop_fini runs, the loops end. Thread-safe and safe from a signal handler's
 * deferred context (not from the handler itself). Idempotent. Returns at once. */
void http_server_stop(http_server *s);

/* Blocks until every loop thread has ended (after http_server_stop). Returns 0. */
int http_server_wait(http_server *s);

/* Starts (if not started), blocks until SIGINT or SIGTERM, then stops and waits. The signals
 * are blocked in the calling thread and taken with sigwait() (loop threads always block them),
 * so no handler is installed. Returns 0 or the start status. */
int http_server_run(http_server *s);

/* Stops (if running), waits, and frees everything. Accepts NULL. */
void http_server_free(http_server *s);

/* Last error message of the handle (static or owned by the handle; never NULL). */
const char *http_server_errstr(const http_server *s);

/* ---- Loops ---------------------------------------------------------------------------- */

uv_loop_t *http_loop_uv(http_loop *l);    /* the libuv loop of this thread */
int http_loop_index(const http_loop *l);  /* 0 .. threads-1 */
void *http_loop_data(const http_loop *l); /* what loop_init stored; NULL by default */
void http_loop_set_data(http_loop *l, void *data);
http_server *http_loop_server(http_loop *l);

/* Runs fn(arg) on the loop's thread soon. Thread-safe (uses a uv_async_t + a locked queue),
 * the way other threads (e.g. the AMQP publisher) hand results back. Returns 0 or MR_ENOMEM;
 * MR_EINVAL once the loop is stopping (fn is then not called: the caller still owns arg). */
int http_loop_post(http_loop *l, void (*fn)(void *arg), void *arg);

/* ---- Request view (all on the request's loop thread) ---------------------------------- */

http_loop *http_req_loop(http_req *r);          /* loop thread answering this request */
const char *http_req_method(const http_req *r); /* NUL-terminated, e.g. "GET" */
const char *http_req_path(const http_req *r);   /* raw path without the query, NUL-terminated */

/* Route parameter `{name}`, URL-decoded, NUL-terminated; NULL when the route has none by
 * that name. Valid as long as `r`. */
const char *http_req_param(const http_req *r, const char *name);

/* First query-string value of `name` (`?a=1&b=x%20y` -> "x y"; '+' decodes to ' '),
 * NUL-terminated, valid as long as `r`; "" for `?name` or `?name=`; NULL when absent. A query
 * string with a malformed escape (`%zz`, `%4`, `%00`) never reaches a handler: it gets a 400. */
const char *http_req_query(http_req *r, const char *name);

/* The request body (whole, already read; at most max_body bytes) and its length; not
 * NUL-terminated; NULL with *len 0 when there is none. Valid as long as `r`. */
const char *http_req_body(const http_req *r, size_t *len);

/* First request header `name` (case-insensitive), NUL-terminated copy valid as long as `r`;
 * NULL when absent. */
const char *http_req_header(http_req *r, const char *name);

/* 1 when token is NULL or "" (no authentication configured) or when the request carries
 * `Authorization: Bearer <token>` exactly; 0 otherwise. The comparison takes the same time
 * whatever the client sent. */
int http_req_bearer_ok(http_req *r, const char *token);

/* ---- Responses: each send answers `r` and frees it ------------------------------------ */

/* Adds a response header (copied) to be sent with the next http_send*. Returns 0 or
 * MR_EINVAL (empty name). */
int http_add_header(http_req *r, const char *name, const char *value);

/* Sends `len` bytes of `body` (copied) with `status` and Content-Type `content_type`
 * (NULL = none). Returns 0. */
int http_send(http_req *r, int status, const char *content_type, const void *body, size_t len);

/* Sends JSON text (copied, NUL-terminated) with Content-Type application/json. */
int http_send_json(http_req *r, int status, const char *json_text);

/* Sends a jansson value (serialized compactly; borrowed: the caller still owns `j`). */
int http_send_jansson(http_req *r, int status, const json_t *j);

/* Sends `{"error": "<message>"}` (printf-style, JSON-escaped) with `status`. */
int http_send_error(http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sends the file at `path` (Content-Type from the extension: html, js, css, json, png, jpg,
 * svg, ico, txt; otherwise application/octet-stream); a JSON 404 when it cannot be opened.
 * Paths are taken as given: callers must reject ".." segments first. Returns 0. */
int http_send_file(http_req *r, const char *path);

/* ---- Metrics -------------------------------------------------------------------------- */

/* Renders Prometheus text for every route and the unmatched requests:
 * http_requests_total{method,route,code} (code class "2xx".."5xx") and the histogram
 * http_request_duration_seconds{method,route} (handler dispatch to send). Counters are kept per
 * loop thread without locks and summed here (relaxed reads). *out is malloc'ed, NUL-terminated;
 * the caller frees it. Thread-safe. Returns 0 or MR_ENOMEM. */
int http_metrics_render(http_server *s, char **out, size_t *len);

#endif
