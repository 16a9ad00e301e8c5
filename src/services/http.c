/* HTTP server framework (skeleton: the contract is in http.h; implementation follows). */
#include "services/http.h"

#include <stdlib.h>
#include <string.h>

#include "core/mr_error.h"

void http_opts_default(http_opts *o) {
  memset(o, 0, sizeof(*o));
  o->listen = "127.0.0.1";
}

int http_server_create(const http_opts *o, http_server **out) {
  (void)o;
  *out = NULL;
  return MR_EUNSUPPORTED;
}
int http_route(http_server *s, const char *method, const char *pattern, http_handler_fn fn,
               void *user) {
  (void)s, (void)method, (void)pattern, (void)fn, (void)user;
  return MR_EUNSUPPORTED;
}
int http_server_start(http_server *s) { (void)s; return MR_EUNSUPPORTED; }
int http_server_port(const http_server *s) { (void)s; return 0; }
void http_server_stop(http_server *s) { (void)s; }
int http_server_wait(http_server *s) { (void)s; return 0; }
int http_server_run(http_server *s) { (void)s; return MR_EUNSUPPORTED; }
void http_server_free(http_server *s) { (void)s; }
const char *http_server_errstr(const http_server *s) { (void)s; return "not implemented"; }
uv_loop_t *http_loop_uv(http_loop *l) { (void)l; return NULL; }
int http_loop_index(const http_loop *l) { (void)l; return 0; }
void *http_loop_data(const http_loop *l) { (void)l; return NULL; }
void http_loop_set_data(http_loop *l, void *data) { (void)l, (void)data; }
http_server *http_loop_server(http_loop *l) { (void)l; return NULL; }
int http_loop_post(http_loop *l, void (*fn)(void *arg), void *arg) {
  (void)l, (void)fn, (void)arg;
  return MR_EUNSUPPORTED;
}
http_loop *http_req_loop(http_req *r) { (void)r; return NULL; }
const char *http_req_method(const http_req *r) { (void)r; return ""; }
const char *http_req_path(const http_req *r) { (void)r; return ""; }
const char *http_req_param(const http_req *r, const char *name) { (void)r, (void)name; return NULL; }
const char *http_req_query(http_req *r, const char *name) { (void)r, (void)name; return NULL; }
const char *http_req_body(const http_req *r, size_t *len) { (void)r; *len = 0; return NULL; }
const char *http_req_header(http_req *r, const char *name) { (void)r, (void)name; return NULL; }
int http_add_header(http_req *r, const char *name, const char *value) {
  (void)r, (void)name, (void)value;
  return MR_EUNSUPPORTED;
}
int http_send(http_req *r, int status, const char *content_type, const void *body, size_t len) {
  (void)r, (void)status, (void)content_type, (void)body, (void)len;
  return MR_EUNSUPPORTED;
}
int http_send_json(http_req *r, int status, const char *json_text) {
  (void)r, (void)status, (void)json_text;
  return MR_EUNSUPPORTED;
}
int http_send_jansson(http_req *r, int status, const json_t *j) {
  (void)r, (void)status, (void)j;
  return MR_EUNSUPPORTED;
}
int http_send_error(http_req *r, int status, const char *fmt, ...) {
  (void)r, (void)status, (void)fmt;
  return MR_EUNSUPPORTED;
}
int http_send_file(http_req *r, const char *path) { (void)r, (void)path; return MR_EUNSUPPORTED; }
int http_metrics_render(http_server *s, char **out, size_t *len) {
  (void)s;
  *out = NULL;
  *len = 0;
  return MR_EUNSUPPORTED;
}
