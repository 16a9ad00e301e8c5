/* HTTP server framework: h2o (libuv flavour) with one loop per thread, a {param} router,
 * JSON responses, asynchronous answers, CORS, per-route metrics and graceful stop. */
#include "services/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <h2o.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/mr_error.h"

#define HTTP_MAX_PARAMS 8
#define HTTP_MAX_SEGS 16
#define HTTP_FREELIST_MAX 256
/* h2o refuses bodies over its own limit with a plain-text 413 before we see them; keep its
 * limit well above ours so every body up to it gets our JSON 413 instead. */
#define HTTP_H2O_BODY_FACTOR 16
#define HTTP_H2O_BODY_MIN (1u << 20)
/* Longest request target (path and query) answered normally; longer ones get a 414. h2o itself
 * only refuses request heads over ~400 KiB. */
#define HTTP_MAX_URL 8192

/* Latency buckets (seconds) of the Prometheus histogram. */
static const double http_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                      0.01,   0.025,   0.05,   0.1,   0.25,   1.0};
#define HTTP_NBUCKETS (sizeof(http_buckets) / sizeof(http_buckets[0]))

typedef struct http_route_t {
  char *method;
  char *pattern;
  char *segs[HTTP_MAX_SEGS]; /* literal, or "{name}" for a parameter, or "*" for the rest */
  int nsegs;
  int rest; /* last segment is "*" */
  http_handler_fn fn;
  void *user;
} http_route_t;

/* Per loop thread, per route: written only by that loop (relaxed load + store, no lock
 * instruction), read by http_metrics_render from any thread. */
typedef struct http_stat {
  _Atomic uint64_t codes[5]; /* 1xx .. 5xx */
  _Atomic uint64_t buckets[HTTP_NBUCKETS];
  _Atomic uint64_t count;
  _Atomic uint64_t sum_ns;
} http_stat;

typedef struct http_post_item {
  void (*fn)(void *);
  void *arg;
  struct http_post_item *next;
} http_post_item;

typedef struct h2o_handler_ext {
  h2o_handler_t super;
  http_server *srv;
} h2o_handler_ext;

struct http_loop {
  http_server *srv;
  int index;
  pthread_t thread;
  int thread_started;
  uv_loop_t uv;
  h2o_context_t ctx;
  h2o_accept_ctx_t accept_ctx;
  int listen_fd;
  uv_tcp_t listener;
  uv_async_t wake;
  uv_timer_t grace;
  pthread_mutex_t mu; /* guards posts, closed */
  http_post_item *posts, *posts_tail;
  int closed;     /* wake handle closed: posts refused */
  int stop_asked; /* set under mu by http_server_stop */
  int stopping;   /* loop-thread view */
  uint64_t stop_deadline;
  size_t pending; /* requests dispatched and not answered */
  void *data;
  http_stat *stats; /* nroutes + 1 (last: unmatched) */
  http_req *freelist;
  size_t nfree;
};

struct http_server {
  http_opts o;
  char *listen;
  char *cors_origin;
  http_route_t *routes;
  int nroutes, caproutes;
  h2o_globalconf_t config;
  int config_ready;
  http_loop *loops;
  int nloops;
  int port;
  int started, stop_called, waited;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int nready;
  int start_status;
  char errstr[256];
};

/* Link in h2o's request pool: tells us when h2o disposes a request we have not answered yet
 * (client gone), so the handler's later send does not touch freed h2o memory. */
typedef struct http_link {
  http_req *r;
} http_link;

/* Small arena for strings handed to the handler: they must outlive the h2o request if the
 * client goes away before the asynchronous answer. */
typedef struct http_chunk {
  struct http_chunk *next;
  size_t used, cap;
  char data[];
} http_chunk;

struct http_req {
  http_loop *loop;
  h2o_req_t *h2o; /* NULL once h2o disposed the request */
  http_link *link;
  int route; /* index, or nroutes for unmatched */
  uint64_t t0;
  const char *method;
  char *path;
  const char *param_names[HTTP_MAX_PARAMS];
  char *param_values[HTTP_MAX_PARAMS];
  int nparams;
  char *body;
  size_t body_len;
  http_chunk *chunks;
  size_t inline_used;
  char inline_buf[512];
  http_req *next_free;
};

/* ---- small helpers ------------------------------------------------------------------- */

static void *arena_alloc(http_req *r, size_t n) {
  n = (n + 7) & ~(size_t)7;
  if (r->inline_used + n <= sizeof(r->inline_buf)) {
    void *p = r->inline_buf + r->inline_used;
    r->inline_used += n;
    return p;
  }
  if (r->chunks && r->chunks->used + n <= r->chunks->cap) {
    void *p = r->chunks->data + r->chunks->used;
    r->chunks->used += n;
    return p;
  }
  size_t cap = n > 4096 ? n : 4096;
  http_chunk *c = malloc(sizeof(*c) + cap);
  if (!c)
    return NULL;
  c->next = r->chunks;
  c->cap = cap;
  c->used = n;
  r->chunks = c;
  return c->data;
}

static char *arena_strndup(http_req *r, const char *s, size_t n) {
  char *p = arena_alloc(r, n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Percent-decodes s[0..n) into the arena; '+' becomes ' ' when plus_space. NULL on bad
 * escapes, embedded NUL or no memory. */
static char *url_decode(http_req *r, const char *s, size_t n, int plus_space) {
  char *out = arena_alloc(r, n + 1), *o = out;
  if (!out)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%') {
      int hi, lo;
      if (i + 2 >= n)
        return NULL;
      hi = hexval((unsigned char)s[i + 1]);
      lo = hexval((unsigned char)s[i + 2]);
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
        return NULL;
      *o++ = (char)(hi * 16 + lo);
      i += 2;
    } else if (s[i] == '+' && plus_space) {
      *o++ = ' ';
    } else {
      *o++ = s[i];
    }
  }
  *o = '\0';
  return out;
}

/* 1 when every '%' in s[0..n) starts an escape url_decode accepts (two hex digits, not %00). */
static int pct_valid(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '%')
      continue;
    if (i + 2 >= n)
      return 0;
    int hi = hexval((unsigned char)s[i + 1]), lo = hexval((unsigned char)s[i + 2]);
    if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
      return 0;
    i += 2;
  }
  return 1;
}

static const char *reason_of(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 304:
    return "Not Modified";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 409:
    return "Conflict";
  case 413:
    return "Payload Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 422:
    return "Unprocessable Entity";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return status < 300 ? "OK" : status < 500 ? "Client Error" : "Server Error";
  }
}

static void set_err(http_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(http_server *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->errstr, sizeof(s->errstr), fmt, ap);
  va_end(ap);
}

static inline void stat_add(_Atomic uint64_t *c, uint64_t v) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}

/* ---- options, create, routes --------------------------------------------------------- */

void http_opts_default(http_opts *o) {
  memset(o, 0, sizeof(*o));
  o->listen = "127.0.0.1";
}

int http_server_create(const http_opts *o, http_server **out) {
  *out = NULL;
  if (!o || o->port < 0 || o->port > 65535)
    return MR_EINVAL;
  http_server *s = calloc(1, sizeof(*s));
  if (!s)
    return MR_ENOMEM;
  s->o = *o;
  s->listen = strdup(o->listen ? o->listen : "127.0.0.1");
  s->cors_origin = o->cors_origin ? strdup(o->cors_origin) : NULL;
  if (!s->listen || (o->cors_origin && !s->cors_origin)) {
    free(s->listen);
    free(s->cors_origin);
    free(s);
    return MR_ENOMEM;
  }
  if (s->o.max_body == 0)
    s->o.max_body = 64 * 1024;
  if (s->o.stop_grace_s <= 0)
    s->o.stop_grace_s = 2.0;
  if (s->o.threads <= 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    s->o.threads = n > 0 ? (int)n : 1;
  }
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  snprintf(s->errstr, sizeof(s->errstr), "no error");
  *out = s;
  return 0;
}

int http_route(http_server *s, const char *method, const char *pattern, http_handler_fn fn,
               void *user) {
  if (!s || !method || !*method || !pattern || pattern[0] != '/' || !fn || s->started)
    return MR_EINVAL;
  if (s->nroutes == s->caproutes) {
    int cap = s->caproutes ? 2 * s->caproutes : 16;
    http_route_t *nr = realloc(s->routes, (size_t)cap * sizeof(*nr));
    if (!nr)
      return MR_ENOMEM;
    s->routes = nr;
    s->caproutes = cap;
  }
  http_route_t *rt = &s->routes[s->nroutes];
  memset(rt, 0, sizeof(*rt));
  rt->method = strdup(method);
  rt->pattern = strdup(pattern);
  if (!rt->method || !rt->pattern)
    goto fail_nomem;
  /* split "/a/{b}/c" into segments; "/" alone has none */
  const char *p = pattern + 1;
  int nparams = 0;
  while (*p) {
    const char *e = strchr(p, '/');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    if (n == 0 || rt->nsegs == HTTP_MAX_SEGS || rt->rest)
      goto fail_inval;
    rt->segs[rt->nsegs] = strndup(p, n);
    if (!rt->segs[rt->nsegs])
      goto fail_nomem;
    char *sg = rt->segs[rt->nsegs++];
    if (sg[0] == '{') {
      if (n < 3 || sg[n - 1] != '}' || ++nparams > HTTP_MAX_PARAMS)
        goto fail_inval;
    } else if (!strcmp(sg, "*")) {
      rt->rest = 1;
      if (++nparams > HTTP_MAX_PARAMS)
        goto fail_inval;
    }
    if (!e)
      break;
    p = e + 1;
    if (!*p) /* trailing slash is not part of any pattern */
      goto fail_inval;
  }
  rt->fn = fn;
  rt->user = user;
  s->nroutes++;
  return 0;
fail_inval:
  for (int i = 0; i < rt->nsegs; i++)
    free(rt->segs[i]);
  free(rt->method);
  free(rt->pattern);
  return MR_EINVAL;
fail_nomem:
  for (int i = 0; i < rt->nsegs; i++)
    free(rt->segs[i]);
  free(rt->method);
  free(rt->pattern);
  return MR_ENOMEM;
}

/* ---- routing ------------------------------------------------------------------------- */

/* Matches `path` (raw, no query) against route `rt`; on success stores the decoded params
 * into `r` (when r != NULL). Returns 1 on match, 0 otherwise, -1 on bad encoding. */
static int route_match(const http_route_t *rt, const char *path, size_t len, http_req *r) {
  const char *p = path + 1, *end = path + len;
  if (len == 0 || path[0] != '/')
    return 0;
  int np = 0;
  for (int i = 0; i < rt->nsegs; i++) {
    const char *sg = rt->segs[i];
    if (rt->rest && i == rt->nsegs - 1) {
      if (p > end)
        return 0; /* "/static" does not match "/static/" + "*": the rest needs its slash */
      if (r) {
        char *v = url_decode(r, p, (size_t)(end - p), 0);
        if (!v)
          return -1;
        r->param_names[np] = "*";
        r->param_values[np++] = v;
      }
      p = end;
      break;
    }
    if (p > end)
      return 0;
    const char *e = memchr(p, '/', (size_t)(end - p));
    if (!e)
      e = end;
    size_t n = (size_t)(e - p);
    if (n == 0)
      return 0;
    if (sg[0] == '{') {
      if (r) {
        char *v = url_decode(r, p, n, 0);
        if (!v)
          return -1;
        r->param_names[np] = sg; /* "{name}": compared without braces in http_req_param */
        r->param_values[np++] = v;
      }
    } else if (strlen(sg) != n || memcmp(sg, p, n) != 0) {
      return 0;
    }
    p = e + 1;
  }
  if (rt->nsegs == 0)
    return len == 1;
  if (!rt->rest && p <= end)
    return 0; /* path has more segments (or a trailing slash) */
  if (r)
    r->nparams = np;
  return 1;
}

/* ---- requests ------------------------------------------------------------------------ */

static void link_dispose(void *p) {
  http_link *lk = p;
  if (lk->r) {
    lk->r->h2o = NULL;
    lk->r->link = NULL;
  }
}

static http_req *req_new(http_loop *l) {
  http_req *r = l->freelist;
  if (r) {
    l->freelist = r->next_free;
    l->nfree--;
  } else if (!(r = malloc(sizeof(*r)))) {
    return NULL;
  }
  r->loop = l;
  r->h2o = NULL;
  r->link = NULL;
  r->nparams = 0;
  r->body = NULL;
  r->body_len = 0;
  r->chunks = NULL;
  r->inline_used = 0;
  r->path = NULL;
  r->method = "";
  r->next_free = NULL;
  return r;
}

static void req_release(http_req *r) {
  http_loop *l = r->loop;
  while (r->chunks) {
    http_chunk *c = r->chunks;
    r->chunks = c->next;
    free(c);
  }
  if (r->link)
    r->link->r = NULL;
  if (l->nfree < HTTP_FREELIST_MAX) {
    r->next_free = l->freelist;
    l->freelist = r;
    l->nfree++;
  } else {
    free(r);
  }
}

/* Accounts the answer and frees the request (the h2o side was already handed the
 * response, or is gone). */
static void req_finish(http_req *r, int status) {
  http_loop *l = r->loop;
  http_stat *st = &l->stats[r->route];
  uint64_t ns = uv_hrtime() - r->t0;
  int cls = status / 100 - 1;
  if (cls < 0 || cls > 4)
    cls = 4;
  stat_add(&st->codes[cls], 1);
  stat_add(&st->count, 1);
  stat_add(&st->sum_ns, ns);
  double sec = (double)ns * 1e-9;
  for (size_t b = 0; b < HTTP_NBUCKETS; b++)
    if (sec <= http_buckets[b]) {
      stat_add(&st->buckets[b], 1); /* cumulative sums are built when rendering */
      break;
    }
  l->pending--;
  req_release(r);
}

static void add_cors(http_req *r) {
  const char *o = r->loop->srv->cors_origin;
  if (o && r->h2o)
    h2o_add_header(&r->h2o->pool, &r->h2o->res.headers, H2O_TOKEN_ACCESS_CONTROL_ALLOW_ORIGIN, NULL,
                   o, strlen(o));
}

int http_send(http_req *r, int status, const char *content_type, const void *body, size_t len) {
  h2o_req_t *h = r->h2o;
  if (h) {
    h->res.status = status;
    h->res.reason = reason_of(status);
    if (content_type)
      h2o_add_header(&h->pool, &h->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, content_type,
                     strlen(content_type));
    add_cors(r);
    static h2o_generator_t gen = {NULL, NULL};
    h2o_iovec_t buf = h2o_strdup(&h->pool, body ? body : "", len);
    h->res.content_length = len;
    h2o_start_response(h, &gen);
    if (h2o_memis(h->input.method.base, h->input.method.len, H2O_STRLIT("HEAD")))
      h2o_send(h, NULL, 0, 1);
    else
      h2o_send(h, &buf, 1, 1);
  }
  req_finish(r, status);
  return 0;
}

int http_send_json(http_req *r, int status, const char *json_text) {
  return http_send(r, status, "application/json", json_text, json_text ? strlen(json_text) : 0);
}

int http_send_jansson(http_req *r, int status, const json_t *j) {
  char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
  if (!txt)
    return http_send_error(r, 500, "could not serialize the response");
  int rc = http_send_json(r, status, txt);
  free(txt);
  return rc;
}

/* Appends `s` JSON-escaped to out (capacity cap, includes room for NUL); returns length. */
static size_t json_escape(char *out, size_t cap, const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p && n + 7 < cap; p++) {
    unsigned char c = *p;
    if (c == '"' || c == '\\') {
      out[n++] = '\\';
      out[n++] = (char)c;
    } else if (c < 0x20) {
      n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
    } else {
      out[n++] = (char)c;
    }
  }
  out[n] = '\0';
  return n;
}

int http_send_error(http_req *r, int status, const char *fmt, ...) {
  char msg[768], body[1024 + 32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  size_t n = (size_t)snprintf(body, sizeof(body), "{\"error\":\"");
  n += json_escape(body + n, sizeof(body) - n - 3, msg);
  memcpy(body + n, "\"}", 3);
  return http_send(r, status, "application/json", body, n + 2);
}

static const char *mime_of(const char *path) {
  static const struct {
    const char *ext, *type;
  } m[] = {{".html", "text/html; charset=utf-8"},
           {".htm", "text/html; charset=utf-8"},
           {".js", "application/javascript; charset=utf-8"},
           {".css", "text/css; charset=utf-8"},
           {".json", "application/json"},
           {".png", "image/png"},
           {".jpg", "image/jpeg"},
           {".jpeg", "image/jpeg"},
           {".svg", "image/svg+xml"},
           {".ico", "image/x-icon"},
           {".txt", "text/plain; charset=utf-8"}};
  size_t pl = strlen(path);
  for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
    size_t el = strlen(m[i].ext);
    if (pl >= el && !strcasecmp(path + pl - el, m[i].ext))
      return m[i].type;
  }
  return "application/octet-stream";
}

int http_send_file(http_req *r, const char *path) {
  h2o_req_t *h = r->h2o;
  if (!h) {
    req_finish(r, 200);
    return 0;
  }
  const char *mt = mime_of(path);
  add_cors(r);
  if (h2o_file_send(h, 200, "OK", path, h2o_iovec_init(mt, strlen(mt)), 0) != 0) {
    /* h2o_file_send answers nothing when the file cannot be opened: the headers added so far
     * would be sent with our error too, so start from an empty header list. */
    memset(&h->res.headers, 0, sizeof(h->res.headers));
    return http_send_error(r, 404, "file not found");
  }
  req_finish(r, 200);
  return 0;
}

int http_add_header(http_req *r, const char *name, const char *value) {
  if (!name || !*name || !value)
    return MR_EINVAL;
  h2o_req_t *h = r->h2o;
  if (!h)
    return 0;
  h2o_iovec_t n = h2o_strdup(&h->pool, name, SIZE_MAX);
  h2o_iovec_t v = h2o_strdup(&h->pool, value, SIZE_MAX);
  h2o_strtolower(n.base, n.len);
  h2o_add_header_by_str(&h->pool, &h->res.headers, n.base, n.len, 1, NULL, v.base, v.len);
  return 0;
}

http_loop *http_req_loop(http_req *r) {
  return r->loop;
}
const char *http_req_method(const http_req *r) {
  return r->method;
}
const char *http_req_path(const http_req *r) {
  return r->path ? r->path : "/";
}

const char *http_req_param(const http_req *r, const char *name) {
  size_t nl = strlen(name);
  for (int i = 0; i < r->nparams; i++) {
    const char *pn = r->param_names[i];
    if (pn[0] == '{') {
      if (strlen(pn) == nl + 2 && !memcmp(pn + 1, name, nl))
        return r->param_values[i];
    } else if (!strcmp(pn, name)) {
      return r->param_values[i];
    }
  }
  return NULL;
}

const char *http_req_query(http_req *r, const char *name) {
  h2o_req_t *h = r->h2o;
  if (!h || h->query_at == SIZE_MAX)
    return NULL;
  const char *q = h->path.base + h->query_at + 1, *end = h->path.base + h->path.len;
  size_t nl = strlen(name);
  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    if (!amp)
      amp = end;
    const char *eq = memchr(q, '=', (size_t)(amp - q));
    const char *kend = eq ? eq : amp;
    /* keys may be encoded too; compare decoded */
    char *key = url_decode(r, q, (size_t)(kend - q), 1);
    if (key && strlen(key) == nl && !memcmp(key, name, nl)) {
      if (!eq)
        return "";
      return url_decode(r, eq + 1, (size_t)(amp - eq - 1), 1);
    }
    q = amp + 1;
  }
  return NULL;
}

const char *http_req_body(const http_req *r, size_t *len) {
  *len = r->body_len;
  return r->body_len ? r->body : NULL;
}

const char *http_req_header(http_req *r, const char *name) {
  h2o_req_t *h = r->h2o;
  if (!h)
    return NULL;
  char lower[128];
  size_t nl = strlen(name);
  if (nl == 0 || nl >= sizeof(lower))
    return NULL;
  for (size_t i = 0; i < nl; i++)
    lower[i] = (char)h2o_tolower(name[i]);
  ssize_t at = h2o_find_header_by_str(&h->headers, lower, nl, -1);
  if (at < 0)
    return NULL;
  return arena_strndup(r, h->headers.entries[at].value.base, h->headers.entries[at].value.len);
}

int http_req_bearer_ok(http_req *r, const char *token) {
  if (!token || !*token)
    return 1;
  const char *h = http_req_header(r, "authorization");
  if (!h || strncasecmp(h, "Bearer ", 7) != 0)
    return 0;
  h += 7;
  /* constant time in the token's length: every byte of the token is compared whatever the
   * client sent, so the time taken says nothing about how many leading bytes matched */
  size_t got = strlen(h), want = strlen(token);
  unsigned char diff = got != want;
  for (size_t i = 0; i < want; i++)
    diff |= (unsigned char)(token[i] ^ (i < got ? h[i] : 0));
  return diff == 0;
}

/* Answers a preflight or a 405 with the methods of every route matching `path`. */
static void allowed_methods(http_server *s, const char *path, size_t len, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  for (int i = 0; i < s->nroutes; i++) {
    if (route_match(&s->routes[i], path, len, NULL) != 1)
      continue;
    const char *m = s->routes[i].method;
    int dup = 0; /* several routes may share a method on the same path */
    for (int j = 0; j < i && !dup; j++)
      dup = !strcmp(s->routes[j].method, m) && route_match(&s->routes[j], path, len, NULL) == 1;
    if (dup)
      continue;
    int w = snprintf(out + n, cap - n, "%s%s", n ? ", " : "", m);
    if (w < 0 || (size_t)w >= cap - n) {
      out[n] = '\0';
      break;
    }
    n += (size_t)w;
  }
}

static int on_h2o_req(h2o_handler_t *self, h2o_req_t *req) {
  http_server *s = ((h2o_handler_ext *)self)->srv;
  /* every context is embedded in its loop */
  http_loop *l = (http_loop *)(void *)((char *)req->conn->ctx - offsetof(http_loop, ctx));
  http_req *r = req_new(l);
  if (!r) {
    h2o_send_error_generic(req, 503, "Service Unavailable", "out of memory", 0);
    return 0;
  }
  r->h2o = req;
  r->t0 = uv_hrtime();
  r->route = s->nroutes;
  l->pending++;
  http_link *lk = h2o_mem_alloc_shared(&req->pool, sizeof(*lk), link_dispose);
  lk->r = r;
  r->link = lk;

  size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
  const char *path = req->path.base;
  /* common methods as static strings, others copied */
  static const char *const known[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"};
  for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (h2o_memis(req->method.base, req->method.len, known[i], strlen(known[i]))) {
      r->method = known[i];
      break;
    }
  if (!*r->method)
    r->method = arena_strndup(r, req->method.base, req->method.len);
  r->path = arena_strndup(r, path, plen);
  if (!r->method || !r->path)
    return http_send_error(r, 503, "out of memory"), 0;

  int path_known = 0, found = -1;
  for (int i = 0; i < s->nroutes && found < 0; i++) {
    http_route_t *rt = &s->routes[i];
    if (route_match(rt, path, plen, NULL) != 1)
      continue;
    path_known = 1;
    if (!strcmp(rt->method, r->method))
      found = i;
  }
  if (found >= 0)
    r->route = found; /* metrics count a 413 or 400 against the route it was meant for */

  if (req->path.len > HTTP_MAX_URL)
    return http_send_error(r, 414, "request URI too long (%zu bytes, limit %d)", req->path.len,
                           HTTP_MAX_URL),
           0;
  /* a handler would read a malformed value as absent and answer with its default */
  if (req->query_at != SIZE_MAX &&
      !pct_valid(req->path.base + req->query_at + 1, req->path.len - req->query_at - 1))
    return http_send_error(r, 400, "malformed percent-encoding in the query string"), 0;
  if (req->entity.base && req->entity.len > s->o.max_body)
    return http_send_error(r, 413, "request body too large (%zu bytes, limit %zu)", req->entity.len,
                           s->o.max_body),
           0;
  if (req->entity.base && req->entity.len) {
    r->body = arena_alloc(r, req->entity.len + 1);
    if (!r->body)
      return http_send_error(r, 503, "out of memory"), 0;
    memcpy(r->body, req->entity.base, req->entity.len);
    r->body[req->entity.len] = '\0';
    r->body_len = req->entity.len;
  }
  if (found >= 0) {
    http_route_t *rt = &s->routes[found];
    if (route_match(rt, path, plen, r) != 1)
      return http_send_error(r, 400, "malformed percent-encoding in the path"), 0;
    rt->fn(r, rt->user);
    return 0;
  }
  char allow[256];
  if (path_known && !strcmp(r->method, "OPTIONS")) {
    allowed_methods(s, path, plen, allow, sizeof(allow) - 10);
    strcat(allow, ", OPTIONS");
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL,
                   h2o_strdup(&req->pool, allow, SIZE_MAX).base, strlen(allow));
    if (s->cors_origin) {
      h2o_iovec_t a = h2o_strdup(&req->pool, allow, SIZE_MAX);
      h2o_add_header_by_str(&req->pool, &req->res.headers,
                            H2O_STRLIT("access-control-allow-methods"), 0, NULL, a.base, a.len);
      /* allow what the browser asks for (the route handlers validate the content anyway) */
      ssize_t at =
          h2o_find_header_by_str(&req->headers, H2O_STRLIT("access-control-request-headers"), -1);
      h2o_iovec_t hv =
          at >= 0 ? req->headers.entries[at].value : h2o_iovec_init(H2O_STRLIT("Content-Type"));
      h2o_add_header_by_str(&req->pool, &req->res.headers,
                            H2O_STRLIT("access-control-allow-headers"), 0, NULL, hv.base, hv.len);
      h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-max-age"), 0,
                            NULL, H2O_STRLIT("600"));
    }
    return http_send(r, 204, NULL, NULL, 0), 0;
  }
  if (path_known) {
    allowed_methods(s, path, plen, allow, sizeof(allow));
    h2o_iovec_t a = h2o_strdup(&req->pool, allow, SIZE_MAX);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, a.base, a.len);
    return http_send_error(r, 405, "method %s not allowed on %s (allowed: %s)", r->method, r->path,
                           allow),
           0;
  }
  return http_send_error(r, 404, "no route for %s %s", r->method, r->path), 0;
}

/* ---- loops --------------------------------------------------------------------------- */

uv_loop_t *http_loop_uv(http_loop *l) {
  return &l->uv;
}
int http_loop_index(const http_loop *l) {
  return l->index;
}
void *http_loop_data(const http_loop *l) {
  return l->data;
}
void http_loop_set_data(http_loop *l, void *data) {
  l->data = data;
}
http_server *http_loop_server(http_loop *l) {
  return l->srv;
}

int http_loop_post(http_loop *l, void (*fn)(void *arg), void *arg) {
  http_post_item *it = malloc(sizeof(*it));
  if (!it)
    return MR_ENOMEM;
  it->fn = fn;
  it->arg = arg;
  it->next = NULL;
  pthread_mutex_lock(&l->mu);
  if (l->closed) {
    pthread_mutex_unlock(&l->mu);
    free(it);
    return MR_EINVAL;
  }
  if (l->posts_tail)
    l->posts_tail->next = it;
  else
    l->posts = it;
  l->posts_tail = it;
  uv_async_send(&l->wake); /* under the lock: the handle cannot be closed meanwhile */
  pthread_mutex_unlock(&l->mu);
  return 0;
}

static void loop_begin_stop(http_loop *l);

static void on_wake(uv_async_t *a) {
  http_loop *l = a->data;
  pthread_mutex_lock(&l->mu);
  http_post_item *it = l->posts;
  l->posts = l->posts_tail = NULL;
  int stop = l->stop_asked;
  pthread_mutex_unlock(&l->mu);
  while (it) {
    http_post_item *next = it->next;
    it->fn(it->arg);
    free(it);
    it = next;
  }
  if (stop && !l->stopping)
    loop_begin_stop(l);
}

static void on_accept(uv_stream_t *listener, int status) {
  http_loop *l = listener->data;
  if (status != 0 || l->stopping)
    return;
  uv_tcp_t *conn = h2o_mem_alloc(sizeof(*conn));
  uv_tcp_init(listener->loop, conn);
  if (uv_accept(listener, (uv_stream_t *)conn) != 0) {
    uv_close((uv_handle_t *)conn, (uv_close_cb)free);
    return;
  }
  uv_tcp_nodelay(conn, 1);
  h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, (uv_close_cb)free);
  h2o_accept(&l->accept_ctx, sock);
}

static void on_grace(uv_timer_t *t) {
  http_loop *l = t->data;
  if (l->pending > 0 && uv_hrtime() < l->stop_deadline)
    return;
  uv_timer_stop(t);
  /* drain posts that arrived meanwhile (they may answer requests), then refuse new ones */
  on_wake(&l->wake);
  if (l->srv->o.loop_fini)
    l->srv->o.loop_fini(l, l->srv->o.loop_user);
  pthread_mutex_lock(&l->mu);
  l->closed = 1;
  http_post_item *it = l->posts;
  l->posts = l->posts_tail = NULL;
  pthread_mutex_unlock(&l->mu);
  while (it) { /* posted after fini: run them so their memory is released */
    http_post_item *next = it->next;
    it->fn(it->arg);
    free(it);
    it = next;
  }
  uv_close((uv_handle_t *)&l->wake, NULL);
  uv_close((uv_handle_t *)&l->grace, NULL);
  uv_stop(&l->uv);
}

static void loop_begin_stop(http_loop *l) {
  l->stopping = 1;
  if (!uv_is_closing((uv_handle_t *)&l->listener))
    uv_close((uv_handle_t *)&l->listener, NULL);
  l->listen_fd = -1; /* owned by the uv handle now */
  h2o_context_request_shutdown(&l->ctx);
  l->stop_deadline = uv_hrtime() + (uint64_t)(l->srv->o.stop_grace_s * 1e9);
  uv_timer_start(&l->grace, on_grace, 0, 10);
}

static void close_walk_cb(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Shuts down (not closes) a client connection's socket, so h2o reads EOF and closes the
 * connection through its own path, freeing it (see loop_main's end). */
static void shutdown_walk_cb(uv_handle_t *h, void *arg) {
  http_loop *l = arg;
  uv_os_fd_t fd;
  if (h->type == UV_TCP && h != (uv_handle_t *)&l->listener && !uv_is_closing(h) &&
      uv_fileno(h, &fd) == 0)
    shutdown(fd, SHUT_RDWR);
}

/* Empties one of h2o's timeout lists (see loop_main's end). */
static void timeout_unlink_all(h2o_timeout_t *t) {
  while (!h2o_linklist_is_empty(&t->_entries))
    h2o_timeout_unlink(H2O_STRUCT_FROM_MEMBER(h2o_timeout_entry_t, _link, t->_entries.next));
}

static void *loop_main(void *arg) {
  http_loop *l = arg;
  http_server *s = l->srv;
  int rc = 0, ctx_ready = 0, init_ok = 0;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* signals go to the thread in http_server_run */

  if ((rc = uv_loop_init(&l->uv)) != 0) {
    rc = MR_EIO;
    goto report;
  }
  h2o_context_init(&l->ctx, &l->uv, &s->config);
  ctx_ready = 1;
  l->accept_ctx.ctx = &l->ctx;
  l->accept_ctx.hosts = s->config.hosts;
  uv_async_init(&l->uv, &l->wake, on_wake);
  l->wake.data = l;
  uv_timer_init(&l->uv, &l->grace);
  l->grace.data = l;
  uv_tcp_init(&l->uv, &l->listener);
  l->listener.data = l;
  if (uv_tcp_open(&l->listener, l->listen_fd) != 0 ||
      uv_listen((uv_stream_t *)&l->listener, 1024, on_accept) != 0) {
    rc = MR_EIO;
    goto report;
  }
  if (s->o.loop_init)
    rc = s->o.loop_init(l, s->o.loop_user);
  init_ok = rc == 0;
report:
  pthread_mutex_lock(&s->mu);
  if (rc && !s->start_status)
    s->start_status = rc;
  s->nready++;
  pthread_cond_broadcast(&s->cv);
  while (s->nready < s->nloops) /* all or nothing: wait for the others' outcome */
    pthread_cond_wait(&s->cv, &s->mu);
  rc = s->start_status;
  pthread_mutex_unlock(&s->mu);

  if (rc == 0) {
    uv_run(&l->uv, UV_RUN_DEFAULT);
    /* clients still connected after the grace period (an idle keep-alive, one halfway through
     * sending a request): end their sockets and let h2o see EOF and free its connections */
    uv_walk(&l->uv, shutdown_walk_cb, l);
    for (int i = 0; i < 8; i++)
      uv_run(&l->uv, UV_RUN_NOWAIT);
  } else {
    /* this or another loop failed: undo our own init only if it succeeded */
    if (init_ok && s->o.loop_init && s->o.loop_fini)
      s->o.loop_fini(l, s->o.loop_user);
    pthread_mutex_lock(&l->mu);
    l->closed = 1;
    pthread_mutex_unlock(&l->mu);
  }
  if (ctx_ready) {
    /* h2o 2.2's request_shutdown links this entry into one_sec_timeout and never unlinks it;
     * h2o_context_dispose would assert on the non-empty timeout list */
    if (h2o_timeout_is_linked(&l->ctx.http2._graceful_shutdown_timeout))
      h2o_timeout_unlink(&l->ctx.http2._graceful_shutdown_timeout);
    /* Connections h2o did not close above (not reading at the moment) still sit on these
     * lists, and the assertion aborted the process on SIGTERM (found by the HTTP fuzz driver
     * with a client halfway through a request). Their timers can never fire again: unlink. */
    h2o_timeout_t *lists[] = {&l->ctx.zero_timeout,
                              &l->ctx.one_sec_timeout,
                              &l->ctx.hundred_ms_timeout,
                              &l->ctx.handshake_timeout,
                              &l->ctx.http1.req_timeout,
                              &l->ctx.http2.idle_timeout,
                              &l->ctx.http2.graceful_shutdown_timeout,
                              &l->ctx.proxy.io_timeout};
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
      timeout_unlink_all(lists[i]);
    h2o_context_dispose(&l->ctx);
    uv_walk(&l->uv, close_walk_cb, NULL);
    for (int i = 0; i < 16 && uv_run(&l->uv, UV_RUN_NOWAIT) != 0; i++)
      ;
    /* connections still open (clients that never closed) keep the loop busy: those leak at
     * exit rather than being closed under h2o's feet */
    uv_loop_close(&l->uv);
  }
  return NULL;
}

static int open_listener(http_server *s, int port, int *fd_out, int *bound_port) {
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof(ss));
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, s->listen, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    sl = sizeof(*a4);
  } else if (inet_pton(AF_INET6, s->listen, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    sl = sizeof(*a6);
  } else {
    set_err(s, "invalid listen address '%s' (numeric IPv4 or IPv6 expected)", s->listen);
    return MR_EINVAL;
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0)
    goto fail_errno;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
      bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0)
    goto fail_errno;
  sl = sizeof(ss);
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
    goto fail_errno;
  *bound_port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
  *fd_out = fd;
  return 0;
fail_errno : {
  int e = errno;
  set_err(s, "cannot listen on %s:%d: %s", s->listen, port, strerror(e));
  if (fd >= 0)
    close(fd);
  return mr_from_errno(e);
}
}

int http_server_start(http_server *s) {
  if (!s || s->started)
    return MR_EINVAL;
  signal(SIGPIPE, SIG_IGN); /* a client closing mid-write must not kill the process */
  h2o_config_init(&s->config);
  s->config_ready = 1;
  size_t lim = s->o.max_body * HTTP_H2O_BODY_FACTOR;
  s->config.max_request_entity_size = lim > HTTP_H2O_BODY_MIN ? lim : HTTP_H2O_BODY_MIN;
  s->config.server_name = h2o_iovec_init(H2O_STRLIT("movierec"));
  h2o_hostconf_t *host =
      h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
  h2o_handler_ext *hx = (h2o_handler_ext *)h2o_create_handler(pc, sizeof(*hx));
  hx->super.on_req = on_h2o_req;
  hx->srv = s;

  s->nloops = s->o.threads;
  s->loops = calloc((size_t)s->nloops, sizeof(*s->loops));
  if (!s->loops)
    return MR_ENOMEM;
  int rc = 0, port = s->o.port;
  for (int i = 0; i < s->nloops; i++) {
    http_loop *l = &s->loops[i];
    l->srv = s;
    l->index = i;
    l->listen_fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    l->stats = calloc((size_t)s->nroutes + 1, sizeof(*l->stats));
    if (!l->stats) {
      rc = MR_ENOMEM;
      goto fail;
    }
    if ((rc = open_listener(s, port, &l->listen_fd, &port)) != 0)
      goto fail;
  }
  s->port = port;
  s->started = 1;
  int spawned = 0;
  for (int i = 0; i < s->nloops; i++) {
    if (pthread_create(&s->loops[i].thread, NULL, loop_main, &s->loops[i]) != 0) {
      /* the spawned loops wait for all: count the missing as failed and ready */
      pthread_mutex_lock(&s->mu);
      s->start_status = MR_ENOMEM;
      s->nready += s->nloops - i;
      pthread_cond_broadcast(&s->cv);
      pthread_mutex_unlock(&s->mu);
      set_err(s, "cannot create loop thread %d", i);
      for (int j = i; j < s->nloops; j++)
        if (s->loops[j].listen_fd >= 0) {
          close(s->loops[j].listen_fd);
          s->loops[j].listen_fd = -1;
        }
      break;
    }
    s->loops[i].thread_started = 1;
    spawned++;
  }
  pthread_mutex_lock(&s->mu);
  while (s->nready < s->nloops)
    pthread_cond_wait(&s->cv, &s->mu);
  rc = s->start_status;
  pthread_mutex_unlock(&s->mu);
  if (rc != 0) {
    if (!strcmp(s->errstr, "no error"))
      set_err(s, "a loop thread failed to start: %s", mr_strerror(rc));
    for (int i = 0; i < s->nloops; i++)
      if (s->loops[i].thread_started) {
        pthread_join(s->loops[i].thread, NULL);
        s->loops[i].thread_started = 0;
      }
    s->waited = 1;
    (void)spawned;
    return rc;
  }
  return 0;
fail:
  set_err(s, "%s", rc == MR_ENOMEM ? "out of memory" : s->errstr);
  for (int i = 0; i < s->nloops; i++)
    if (s->loops[i].listen_fd >= 0) {
      close(s->loops[i].listen_fd);
      s->loops[i].listen_fd = -1;
    }
  return rc;
}

int http_server_port(const http_server *s) {
  return s ? s->port : 0;
}

void http_server_stop(http_server *s) {
  if (!s || !s->started)
    return;
  pthread_mutex_lock(&s->mu);
  int first = !s->stop_called;
  s->stop_called = 1;
  pthread_mutex_unlock(&s->mu);
  if (!first)
    return;
  for (int i = 0; i < s->nloops; i++) {
    http_loop *l = &s->loops[i];
    pthread_mutex_lock(&l->mu);
    l->stop_asked = 1;
    if (!l->closed)
      uv_async_send(&l->wake);
    pthread_mutex_unlock(&l->mu);
  }
}

int http_server_wait(http_server *s) {
  if (!s || !s->started || s->waited)
    return 0;
  for (int i = 0; i < s->nloops; i++)
    if (s->loops[i].thread_started) {
      pthread_join(s->loops[i].thread, NULL);
      s->loops[i].thread_started = 0;
    }
  s->waited = 1;
  return 0;
}

int http_server_run(http_server *s) {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old);
  int rc = 0;
  if (!s->started && (rc = http_server_start(s)) != 0)
    goto out;
  int sig = 0;
  sigwait(&set, &sig);
  http_server_stop(s);
  http_server_wait(s);
out:
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return rc;
}

void http_server_free(http_server *s) {
  if (!s)
    return;
  http_server_stop(s);
  http_server_wait(s);
  for (int i = 0; s->loops && i < s->nloops; i++) {
    http_loop *l = &s->loops[i];
    while (l->freelist) {
      http_req *r = l->freelist;
      l->freelist = r->next_free;
      free(r);
    }
    while (l->posts) {
      http_post_item *it = l->posts;
      l->posts = it->next;
      free(it);
    }
    if (l->listen_fd >= 0)
      close(l->listen_fd);
    free(l->stats);
    pthread_mutex_destroy(&l->mu);
  }
  free(s->loops);
  if (s->config_ready)
    h2o_config_dispose(&s->config);
  for (int i = 0; i < s->nroutes; i++) {
    for (int j = 0; j < s->routes[i].nsegs; j++)
      free(s->routes[i].segs[j]);
    free(s->routes[i].method);
    free(s->routes[i].pattern);
  }
  free(s->routes);
  free(s->listen);
  free(s->cors_origin);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s);
}

const char *http_server_errstr(const http_server *s) {
  return s ? s->errstr : "no server";
}

/* ---- metrics ------------------------------------------------------------------------- */

typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->oom)
    return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
      b->oom = 1;
      return;
    }
    if ((size_t)n < b->cap - b->len) {
      b->len += (size_t)n;
      return;
    }
    size_t cap = (b->cap + (size_t)n + 1) * 2;
    char *np = realloc(b->p, cap);
    if (!np) {
      b->oom = 1;
      return;
    }
    b->p = np;
    b->cap = cap;
  }
}

/* Label values: escape backslash and quote (patterns contain neither in practice). */
static void sb_label(sbuf *b, const char *v) {
  for (; *v; v++) {
    if (*v == '"' || *v == '\\')
      sb_printf(b, "\\%c", *v);
    else
      sb_printf(b, "%c", *v);
  }
}

static uint64_t ld(const _Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

int http_metrics_render(http_server *s, char **out, size_t *len) {
  *out = NULL;
  *len = 0;
  sbuf b = {malloc(4096), 0, 4096, 0};
  if (!b.p)
    return MR_ENOMEM;
  b.p[0] = '\0';
  int nr = s->nroutes;
  sb_printf(&b, "# HELP http_requests_total HTTP requests answered, by route and status class.\n"
                "# TYPE http_requests_total counter\n");
  for (int i = 0; i <= nr; i++) {
    const char *m = i < nr ? s->routes[i].method : "any";
    const char *pat = i < nr ? s->routes[i].pattern : "unmatched";
    for (int c = 0; c < 5; c++) {
      uint64_t v = 0;
      for (int k = 0; s->loops && k < s->nloops; k++)
        v += ld(&s->loops[k].stats[i].codes[c]);
      if (v == 0 && c != 1)
        continue; /* always show 2xx so every route appears */
      sb_printf(&b, "http_requests_total{method=\"%s\",route=\"", m);
      sb_label(&b, pat);
      sb_printf(&b, "\",code=\"%dxx\"} %llu\n", c + 1, (unsigned long long)v);
    }
  }
  sb_printf(&b, "# HELP http_request_duration_seconds Time from dispatch to answer.\n"
                "# TYPE http_request_duration_seconds histogram\n");
  for (int i = 0; i <= nr; i++) {
    const char *m = i < nr ? s->routes[i].method : "any";
    const char *pat = i < nr ? s->routes[i].pattern : "unmatched";
    uint64_t cum = 0, cnt = 0, sum = 0;
    for (int k = 0; s->loops && k < s->nloops; k++) {
      cnt += ld(&s->loops[k].stats[i].count);
      sum += ld(&s->loops[k].stats[i].sum_ns);
    }
    for (size_t bk = 0; bk < HTTP_NBUCKETS; bk++) {
      for (int k = 0; s->loops && k < s->nloops; k++)
        cum += ld(&s->loops[k].stats[i].buckets[bk]);
      sb_printf(&b, "http_request_duration_seconds_bucket{method=\"%s\",route=\"", m);
      sb_label(&b, pat);
      sb_printf(&b, "\",le=\"%g\"} %llu\n", http_buckets[bk], (unsigned long long)cum);
    }
    sb_printf(&b, "http_request_duration_seconds_bucket{method=\"%s\",route=\"", m);
    sb_label(&b, pat);
    sb_printf(&b, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cnt);
    sb_printf(&b, "http_request_duration_seconds_sum{method=\"%s\",route=\"", m);
    sb_label(&b, pat);
    sb_printf(&b, "\"} %.9f\n", (double)sum * 1e-9);
    sb_printf(&b, "http_request_duration_seconds_count{method=\"%s\",route=\"", m);
    sb_label(&b, pat);
    sb_printf(&b, "\"} %llu\n", (unsigned long long)cnt);
  }
  if (b.oom) {
    free(b.p);
    return MR_ENOMEM;
  }
  *out = b.p;
  *len = b.len;
  return 0;
}
