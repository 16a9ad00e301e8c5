/* Synchronous Redis store of the live data (docs/SERVICES.md keys): ratings, events, trending. */
#ifndef MR_STORE_H
#define MR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "infra/event.h"

typedef struct store store;

/* Connects to url `redis://host[:port][/db]` (port 6379, db 0 by default) with timeout_ms for
 * the connect and for every command. Like hiredis' redisConnect, a handle is returned even when
 * the server cannot be reached: then the result is MR_EIO, *out holds the error
 * (store_errstr) and store_reconnect may be called later. A bad URL gives MR_EINVAL (reason in
 * err when err != NULL) and out of memory MR_ENOMEM; in those cases *out is NULL. The caller
 * frees *out with store_free. */
int store_connect(const char *url, int timeout_ms, store **out, char *err, size_t errlen);

/* Drops the connection (if any) and connects again with the handle's URL and timeout. */
int store_reconnect(store *st);

/* Releases the handle and its connection. NULL is fine. */
void store_free(store *st);

/* The last error on the handle ("" when none). Valid until the next call on the handle. */
const char *store_errstr(const store *st);

/* 1 when the handle has a usable connection (no I/O error since the last (re)connect). */
int store_connected(const store *st);

/* PING. MR_OK or MR_EIO. */
int store_ping(store *st);

/* Key names (NUL-terminated, truncated to cap): `mr:u:{UID}:ratings`, `mr:u:{UID}:cache`,
 * `mr:ev:{EVENT_ID}` -- the braces are literal Redis Cluster hash tags. */
void store_key_user_ratings(int64_t uid, char *buf, size_t cap);
void store_key_user_cache(int64_t uid, char *buf, size_t cap);
void store_key_event(const char *event_id, char *buf, size_t cap);

/* Stores one rating event atomically with one Lua script: SET mr:ev:{id} NX EX 7 days; only if
 * that was new: HSET the user's rating "RATING:TS", HINCRBY mr:movie:counts, XADD mr:events
 * (MAXLEN ~ 1000000), INCR mr:stats:stored, DEL the user's cache. *was_new (may be NULL) is 1
 * when stored now and 0 for a redelivered event (a no-op). The script is loaded once with
 * SCRIPT LOAD and run with EVALSHA; after a NOSCRIPT (Redis restarted or SCRIPT FLUSH) it runs
 * with EVAL, which caches it again. MR_EINVAL for an invalid event, MR_EIO on a Redis error
 * (store_errstr says which; nothing is known to be stored then: retry the same event). */
int store_put_rating(store *st, const mr_event *ev, int *was_new);

/* Stores n events like store_put_rating, pipelined (one round trip instead of n); each event
 * is still atomic on its own. was_new (may be NULL) is an array of n flags. MR_OK when every
 * event is stored (or already was); MR_EIO on any Redis error: then some may be stored and
 * others not, and retrying the whole batch is safe (idempotent). */
int store_put_ratings(store *st, const mr_event *evs, size_t n, int *was_new);

typedef struct store_rating {
  int64_t movie_id;
  int rating;
  int64_t ts;
} store_rating;

/* The user's live ratings (mr:u:{UID}:ratings), newest first (ties by movie id). *out is a
 * malloc'd array the caller frees (NULL when *n == 0). Fields that do not parse are skipped. */
int store_user_ratings(store *st, int64_t uid, store_rating **out, size_t *n);

/* Calls cb for every event in mr:events stored at or after Unix time ts (the stream id's
 * time, XRANGE from `ts*1000-0`, in pages), oldest first; entries that do not parse are
 * skipped. cb returning non-zero stops the scan and that value is returned. The mr_event
 * passed to cb is valid during the call only. */
int store_events_since(store *st, int64_t ts, int (*cb)(const mr_event *ev, void *ud), void *ud);

/* SET mr:trending to json (NUL-terminated). */
int store_set_trending(store *st, const char *json);

/* GET mr:trending: *json is a malloc'd copy the caller frees; MR_ENOTFOUND when unset. */
int store_get_trending(store *st, char **json);

/* GET mr:stats:stored (0 when unset). */
int store_stats_stored(store *st, long long *out);

/* One live rating of any user (store_snapshot). */
typedef struct store_live_rating {
  int64_t user_id, movie_id;
  int rating;
  int64_t ts;
} store_live_rating;

/* Where a snapshot was cut: the last mr:events id it includes ("0-0": none) and the value of
 * mr:stats:stored at that instant. */
typedef struct store_snapshot_info {
  char stream_id[48];
  long long stored;
  size_t users; /* users with live ratings */
} store_snapshot_info;

/* Every live rating of every user as of one instant (the source of truth is the per-user hashes
 * mr:u:{UID}:ratings; consumers keep writing meanwhile). H0 = the stream's last id, then SCAN
 * collects the hash keys; then one MULTI/EXEC reads the stream's last id H, mr:stats:stored and
 * every collected hash atomically; users whose hash appeared after the SCAN began have all
 * their ratings in the stream after H0, so the entries (H0, H] fill them in. The result is the
 * state at H: one entry per (user, movie), sorted by user then movie. *out malloc'd (caller
 * frees, NULL when *n == 0). */
int store_snapshot(store *st, store_live_rating **out, size_t *n, store_snapshot_info *info);

/* PUBLISH channel message; *receivers (may be NULL) = subscribers that got it. */
int store_publish(store *st, const char *channel, const char *message, long long *receivers);

/* HSET key f1 v1 f2 v2 ... (n pairs) in one command. */
int store_hset(store *st, const char *key, int n, const char **fields, const char **values);

/* HINCRBY key field by. */
int store_hincrby(store *st, const char *key, const char *field, long long by);

#endif
