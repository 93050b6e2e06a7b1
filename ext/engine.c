/* The I/O engine (see engine.h). No Python here: it runs on its own C
 * thread, and the workers' verbs call in holding only their own GIL.
 *
 * Ownership of a connection moves in one direction at a time:
 *   engine (armed in epoll with EPOLLONESHOT, linked in a deadline list)
 *     -> queue item -> worker (busy) -> a verb (park, next_request,
 *        close_connection) -> engine again.
 * Only the owner touches the connection's buffer. The engine mutex guards the
 * connection table, the deadline lists, the counters and the draining and
 * closed flags, which both sides use. stats.requests alone is atomic: the
 * pipelined path counts it without taking the mutex a second time. */
#include "engine.h"
#include "errors.h"
#include "pool.h"
#include "record.h"
#include "registry.h"
#include "timeutil.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define SS_INITIAL_BUF 4096
#define SS_ACCEPT_BATCH 64
/* Out of fds with no connection to close: how long the listeners stay out
 * of epoll before accept4 is tried again (a closed connection ends the
 * wait sooner). */
#define SS_ACCEPT_BACKOFF_MS 100
/* A connection that has sent nothing is closed to make room only once it
 * is this old: one just accepted may be about to send its request. */
#define SS_RECLAIM_MIN_AGE_MS 1000
/* fd-limit errors closer together than this are one episode (stats). */
#define SS_FD_EPISODE_GAP_MS 10000

/* epoll data: fd or listener index (bits 0-31), tag (32-33) and, for a
 * connection, its serial (34-63): an event the same epoll_wait returned
 * for a connection closed meanwhile (to make room for another, see
 * out_of_fds) must not reach the new connection on the same fd. */
enum { TAG_CONN = 0, TAG_LISTENER = 1, TAG_CONTROL = 2 };
#define SS_SERIAL_MASK ((1u << 30) - 1)
enum { LIST_NONE = 0, LIST_HEADER = 1, LIST_IDLE = 2 };

typedef struct ss_conn {
    struct ss_conn *prev, *next;  /* deadline list links */
    int fd;
    int listener;
    int list;                     /* LIST_* */
    int busy;                     /* owned by a worker */
    uint32_t serial;              /* tells this connection's events from a predecessor's */
    int64_t deadline;             /* monotonic ms */
    char *buf;
    size_t len, cap;
    size_t peer_len;
    char peer[SS_ADDR_TEXT];      /* "addr\0port" */
} ss_conn;

typedef struct {
    ss_conn *head, *tail;
} conn_list;

typedef struct {
    int fd;
    size_t addr_len;
    char addr[SS_ADDR_TEXT + 108]; /* "addr\0port", or "path\0" for UNIX */
} listener;

struct ss_engine {
    ss_object obj;                /* first: an engine is a counted object */
    ss_engine_config cfg;
    ss_queue *queue;
    int epfd;
    int control_fd;
    int drain_fd;                 /* readable for good once draining: workers' loops watch it */
    pthread_t thread;
    int thread_started;
    listener listeners[SS_MAX_LISTENERS];
    int nlisten;
    ss_conn **conns;              /* indexed by fd */
    size_t nconns;
    pthread_mutex_t mu;
    pthread_cond_t idle_cond;
    conn_list lists[3];
    int draining, stopping, drained_listeners;
    int64_t accept_limit;         /* stop accepting at this many busy connections; 0: never */
    int listening;                /* the listeners are in epoll (see gate_listeners_locked) */
    uint32_t next_serial;         /* engine thread only */
    int fd_paused;                /* out of fds: listeners out of epoll until a close or fd_resume_at */
    int64_t fd_resume_at;         /* monotonic ms */
    int64_t fd_error_at;          /* the last fd-limit error, for episodes */
    int64_t sleep_until;          /* when the engine thread will next wake on its own */
    ss_engine_stats stats;        /* guarded by mu, but for requests: atomic */
};

static ss_registry registry = SS_REGISTRY_INIT;

/* ---- deadline lists: FIFO, hence sorted, since each has one timeout ---- */

static void list_unlink(ss_engine *e, ss_conn *c)
{
    if (c->list == LIST_NONE)
        return;
    conn_list *l = &e->lists[c->list];
    if (c->prev) c->prev->next = c->next; else l->head = c->next;
    if (c->next) c->next->prev = c->prev; else l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = LIST_NONE;
}

static void list_append(ss_engine *e, ss_conn *c, int which, int64_t deadline)
{
    list_unlink(e, c);
    conn_list *l = &e->lists[which];
    c->list = which;
    c->deadline = deadline;
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail) l->tail->next = c; else l->head = c;
    l->tail = c;
}

/* ---- listeners ---- */

static void watch_listener(ss_engine *e, int index, int op)
{
    /* Not EPOLLEXCLUSIVE, though the process kind runs an engine per process
     * on one listening socket: exclusive wake-ups went to the same engine
     * nearly every time (19 of 20 sequential requests to one of two
     * processes), while every engine waking and racing accept4 spreads them
     * (24/16 sequential, 34/30 concurrent) at the cost of a few wake-ups
     * per connection among a handful of processes. */
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = ((uint64_t)TAG_LISTENER << 32) | (uint32_t)index;
    epoll_ctl(e->epfd, op, e->listeners[index].fd, op == EPOLL_CTL_DEL ? NULL : &ev);
}

/* With e->mu held: put the listeners in epoll or take them out, as the
 * engine wants them now. Two things take them out:
 * - out of fds (fd_paused): a level-triggered listener whose accept4
 *   fails would wake the thread again at once, for ever; they come back
 *   when the engine closes a connection, or after SS_ACCEPT_BACKOFF_MS;
 * - an accept limit (the process kind: engines of several processes share
 *   the listening sockets) while every worker of this process is busy, so
 *   that another process, whose workers are free, takes the next
 *   connection; they come back as soon as a worker is free. */
static void gate_listeners_locked(ss_engine *e)
{
    if (e->drained_listeners)
        return;
    int want = !e->fd_paused && (e->accept_limit <= 0 || e->stats.busy < e->accept_limit);
    if (want == e->listening)
        return;
    for (int i = 0; i < e->nlisten; i++)
        watch_listener(e, i, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL);
    e->listening = want;
}

/* ---- connections ---- */

static void close_conn(ss_engine *e, ss_conn *c)
{
    /* Clear the slot before close(): the fd number may be reused at once. */
    e->conns[c->fd] = NULL;
    close(c->fd);
    free(c->buf);
    free(c);
}

/* With e->mu held. An fd is free now: listeners paused for want of one
 * are watched again. */
static void close_conn_locked(ss_engine *e, ss_conn *c)
{
    list_unlink(e, c);
    e->stats.open--;
    close_conn(e, c);
    if (e->draining)
        pthread_cond_broadcast(&e->idle_cond); /* wait_idle counts lingering ones */
    if (e->fd_paused) {
        e->fd_paused = 0;
        gate_listeners_locked(e);
    }
}

static void set_timeouts(int fd, int64_t ms)
{
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Park c in epoll until readable; with e->mu held. */
static int arm(ss_engine *e, ss_conn *c, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT};
    ev.data.u64 = ((uint64_t)c->serial << 34) | ((uint64_t)TAG_CONN << 32) | (uint32_t)c->fd;
    return epoll_ctl(e->epfd, op, c->fd, &ev) == 0 ? SS_OK : -errno;
}

/* Answer a refused head and leave the connection to be closed. Best effort:
 * the client may already be gone. */
static void send_error(ss_conn *c, int status)
{
    char msg[256];
    const char *reason = ss_reason(status);
    int body_len = (int)strlen(reason) + 1;
    int n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %d\r\nConnection: close\r\n\r\n%s\n",
                     status, reason, body_len, reason);
    if (n > 0 && send(c->fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
        /* FIN after the answer; discard what the client already sent so
         * close() does not turn into a reset that could drop our answer. */
        shutdown(c->fd, SHUT_WR);
        char sink[4096];
        for (int i = 0; i < 16 && recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; i++)
            ;
    }
}

/* Turn the complete head at the start of c->buf into a queue item; the rest of
 * the buffer travels along as the item's data. */
static ss_item *make_item(ss_engine *e, ss_conn *c, const ss_request *r, size_t head_len)
{
    const listener *l = &e->listeners[c->listener];
    size_t rec_len = ss_record_size(r, c->peer_len, l->addr_len);
    ss_item *it = ss_item_new(c->fd, r->flags, r->content_length, NULL, rec_len,
                              c->buf + head_len, c->len - head_len);
    if (it != NULL)
        ss_record_write(r, c->peer, c->peer_len, l->addr, l->addr_len, it->bytes);
    c->len = 0;
    return it;
}

typedef enum { PARSED_ITEM, PARSED_MORE, PARSED_CLOSE } parse_outcome;

/* Parse what c holds. On a complete head returns PARSED_ITEM with *item set;
 * a refused head is answered here and gives PARSED_CLOSE. So is a
 * Content-Length over max_body: 413 at the door, before any worker sees the
 * request (a chunked body over it is the workers' to stop). */
static parse_outcome parse_conn(ss_engine *e, ss_conn *c, ss_item **item)
{
    ss_request req;
    int64_t r = ss_parse_request(c->buf, c->len, &e->cfg.limits, &req);
    if (r == 0 && c->len < e->cfg.limits.max_head)
        return PARSED_MORE;
    if (r > 0 && e->cfg.max_body > 0 && req.content_length > e->cfg.max_body)
        r = -413;
    if (r <= 0) {
        send_error(c, r == 0 ? 431 : (int)-r);
        pthread_mutex_lock(&e->mu);
        e->stats.rejected++;
        pthread_mutex_unlock(&e->mu);
        return PARSED_CLOSE;
    }
    *item = make_item(e, c, &req, (size_t)r);
    return *item ? PARSED_ITEM : PARSED_CLOSE;
}

static int grow_buf(ss_conn *c, size_t need)
{
    if (c->cap >= need)
        return SS_OK;
    size_t cap = c->cap ? c->cap : SS_INITIAL_BUF;
    while (cap < need)
        cap *= 2;
    char *buf = realloc(c->buf, cap);
    if (buf == NULL)
        return SS_ERR_NOMEM;
    c->buf = buf;
    c->cap = cap;
    return SS_OK;
}

/* The engine thread hands an item to the workers; blocking on a full queue is
 * the back-pressure that stops reading and, through the backlog, accepting. */
static void dispatch(ss_engine *e, ss_conn *c, ss_item *it)
{
    pthread_mutex_lock(&e->mu);
    list_unlink(e, c);
    c->busy = 1;
    e->stats.busy++;
    gate_listeners_locked(e);
    __atomic_add_fetch(&e->stats.requests, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&e->mu);
    if (ss_queue_put(e->queue, it, 1) != SS_OK) {
        ss_item_free(it);
        pthread_mutex_lock(&e->mu);
        e->stats.busy--;
        gate_listeners_locked(e);
        close_conn_locked(e, c);
        pthread_mutex_unlock(&e->mu);
    }
}

/* Read what is there (never blocking) and act on it. */
static void on_readable(ss_engine *e, ss_conn *c)
{
    size_t room_for = e->cfg.limits.max_head + 1;
    for (;;) {
        if (grow_buf(c, c->len < SS_INITIAL_BUF ? SS_INITIAL_BUF : c->len + 1) != SS_OK)
            break;
        size_t want = c->cap - c->len;
        if (c->len + want > room_for)
            want = room_for > c->len ? room_for - c->len : 1;
        ssize_t n = recv(c->fd, c->buf + c->len, want, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pthread_mutex_lock(&e->mu);
            /* A head has begun (or a new connection waits for one): the header
             * clock runs, and is never extended by a trickle of bytes. */
            if (c->list == LIST_NONE || (c->list == LIST_IDLE && c->len > 0))
                list_append(e, c, LIST_HEADER, ss_now_ms() + e->cfg.header_timeout_ms);
            if (arm(e, c, EPOLL_CTL_MOD) != SS_OK)
                close_conn_locked(e, c);
            pthread_mutex_unlock(&e->mu);
            return;
        }
        if (n <= 0)
            break;   /* EOF or error: the client is gone */
        c->len += (size_t)n;
        ss_item *it = NULL;
        parse_outcome out = parse_conn(e, c, &it);
        if (out == PARSED_ITEM) {
            dispatch(e, c, it);
            return;
        }
        if (out == PARSED_CLOSE)
            break;
    }
    pthread_mutex_lock(&e->mu);
    close_conn_locked(e, c);
    pthread_mutex_unlock(&e->mu);
}

/* With e->mu held: the connection the engine closes first to make room for
 * a new one, the oldest of those doing nothing (as nginx reuses both
 * kinds): an idle keep-alive connection (their list is FIFO, hence oldest
 * first), else one that has sent nothing in the SS_RECLAIM_MIN_AGE_MS
 * since it was accepted. One whose bytes wait unread (a next request, or
 * the first one of a connection just accepted) is not idle. Partial heads
 * and connections workers own are never taken. NULL when there is none.
 * The walk, and its ioctl per candidate, runs only when an accept4 failed. */
static ss_conn *reclaimable_locked(ss_engine *e, int64_t now)
{
    for (int which = LIST_IDLE; which >= LIST_HEADER; which--) {
        for (ss_conn *c = e->lists[which].head; c != NULL; c = c->next) {
            /* The header list is in the order connections joined it, each
             * with the same timeout (one that had sent nothing joined at
             * its accept): the rest joined later still. */
            if (which == LIST_HEADER
                && c->deadline - e->cfg.header_timeout_ms > now - SS_RECLAIM_MIN_AGE_MS)
                break;
            int pending = 0;
            if (c->len == 0 && ioctl(c->fd, FIONREAD, &pending) == 0 && pending == 0)
                return c;
        }
    }
    return NULL;
}

/* accept4 failed for want of fds or kernel memory (err). Close the oldest
 * idle connection and return 1: try again. With none to close, take the
 * listeners out of epoll until a connection closes or the back-off ends,
 * and return 0. Either way the episode is counted (once for errors less
 * than SS_FD_EPISODE_GAP_MS apart), for the supervisor to log. */
static int out_of_fds(ss_engine *e, int err)
{
    int64_t now = ss_now_ms();
    pthread_mutex_lock(&e->mu);
    if (e->stats.fd_limit_episodes == 0 || now - e->fd_error_at >= SS_FD_EPISODE_GAP_MS)
        e->stats.fd_limit_episodes++;
    e->fd_error_at = now;
    e->stats.fd_limit_errno = err;
    ss_conn *c = reclaimable_locked(e, now);
    if (c != NULL) {
        e->stats.fd_limit_closed++;
        close_conn_locked(e, c);
    } else {
        e->fd_paused = 1;
        e->fd_resume_at = now + SS_ACCEPT_BACKOFF_MS;
        gate_listeners_locked(e);
    }
    pthread_mutex_unlock(&e->mu);
    return c != NULL;
}

static void accept_new(ss_engine *e, int index)
{
    listener *l = &e->listeners[index];
    /* Under an accept limit, one at a time: the rest wake an engine that
     * still watches (this one again only if it has a free worker). */
    int batch = __atomic_load_n(&e->accept_limit, __ATOMIC_RELAXED) > 0 ? 1 : SS_ACCEPT_BATCH;
    for (int i = 0; i < batch; i++) {
        struct sockaddr_storage sa;
        socklen_t sa_len = sizeof(sa);
        int fd = accept4(l->fd, (struct sockaddr *)&sa, &sa_len, SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EINTR || err == ECONNABORTED)
                continue;
            if ((err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
                && out_of_fds(e, err))
                continue;
            return;   /* EAGAIN, paused for want of fds, or another error */
        }
        ss_conn *c = calloc(1, sizeof(*c));
        if (c == NULL || (size_t)fd >= e->nconns) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->serial = e->next_serial++ & SS_SERIAL_MASK;
        c->listener = index;
        ss_format_addr((struct sockaddr *)&sa, c->peer, &c->peer_len);
        if (sa.ss_family != AF_UNIX) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        set_timeouts(fd, e->cfg.client_timeout_ms);
        pthread_mutex_lock(&e->mu);
        e->conns[fd] = c;
        e->stats.accepted++;
        e->stats.open++;
        list_append(e, c, LIST_HEADER, ss_now_ms() + e->cfg.header_timeout_ms);
        int rc = arm(e, c, EPOLL_CTL_ADD);
        if (rc != SS_OK)
            close_conn_locked(e, c);
        pthread_mutex_unlock(&e->mu);
    }
}

/* With e->mu held: close connections whose deadline passed. A partial head
 * gets 408; an idle keep-alive connection is closed silently. */
static void expire(ss_engine *e, int64_t now)
{
    for (int which = LIST_HEADER; which <= LIST_IDLE; which++) {
        ss_conn *c;
        while ((c = e->lists[which].head) != NULL && c->deadline <= now) {
            if (c->len > 0)
                send_error(c, 408);
            close_conn_locked(e, c);
        }
    }
}

/* With e->mu held: the back-off of listeners paused for want of fds ended. */
static void resume_accepting(ss_engine *e, int64_t now)
{
    if (e->fd_paused && now >= e->fd_resume_at) {
        e->fd_paused = 0;
        gate_listeners_locked(e);
    }
}

static int next_timeout(ss_engine *e, int64_t now)
{
    int64_t soonest = e->fd_paused ? e->fd_resume_at : -1;
    for (int which = LIST_HEADER; which <= LIST_IDLE; which++) {
        ss_conn *c = e->lists[which].head;
        if (c != NULL && (soonest < 0 || c->deadline < soonest))
            soonest = c->deadline;
    }
    if (soonest < 0)
        return -1;
    return soonest <= now ? 0 : (int)(soonest - now);
}

/* With e->mu held: stop accepting. */
static void close_listeners_locked(ss_engine *e)
{
    if (e->drained_listeners)
        return;
    e->drained_listeners = 1;
    for (int i = 0; i < e->nlisten; i++) {
        if (e->listening)
            watch_listener(e, i, EPOLL_CTL_DEL);
        close(e->listeners[i].fd);
    }
    e->listening = 0;
}

/* With e->mu held: close every connection the engine owns (idle ones and
 * partial heads); those workers own are theirs to hand back. */
static void close_owned_locked(ss_engine *e)
{
    for (int which = LIST_HEADER; which <= LIST_IDLE; which++)
        while (e->lists[which].head != NULL)
            close_conn_locked(e, e->lists[which].head);
}

/* With e->mu held: stop accepting, and give every connection the engine
 * owns (idle keep-alive ones, fresh ones, partial heads) at most
 * SS_DRAIN_LINGER_MS more to deliver a request. Closing them at once would
 * cut the request a client sent on a kept connection just before the
 * drain, and it was already on its way: the client sees a reset for a
 * request it cannot know was never read. A request that arrives is served,
 * its response saying Connection: close. min(deadline, cap) keeps each
 * deadline list in order. */
static void drain_locked(ss_engine *e)
{
    if (e->drained_listeners)
        return;
    close_listeners_locked(e);
    int64_t cap = ss_now_ms() + SS_DRAIN_LINGER_MS;
    for (int which = LIST_HEADER; which <= LIST_IDLE; which++)
        for (ss_conn *c = e->lists[which].head; c != NULL; c = c->next)
            if (c->deadline > cap)
                c->deadline = cap;
    pthread_cond_broadcast(&e->idle_cond);
}

static void handle_event(ss_engine *e, uint64_t data)
{
    int tag = (int)(data >> 32) & 3;
    int value = (int)(uint32_t)data;
    if (tag == TAG_LISTENER) {
        accept_new(e, value);
    } else if (tag == TAG_CONTROL) {
        uint64_t count;
        ssize_t r = read(e->control_fd, &count, sizeof(count));
        (void)r;
        pthread_mutex_lock(&e->mu);
        if (e->draining)
            drain_locked(e);
        pthread_mutex_unlock(&e->mu);
    } else if ((size_t)value < e->nconns) {
        /* Armed connections are the engine's (EPOLLONESHOT): never busy. A
         * stale event may name a newer connection on the fd, maybe one a
         * worker owns by now: look under the mutex. Once seen not busy, c
         * is the engine thread's alone, and only this thread dispatches. */
        pthread_mutex_lock(&e->mu);
        ss_conn *c = e->conns[value];
        if (c != NULL && (c->busy || c->serial != (uint32_t)(data >> 34)))
            c = NULL;
        pthread_mutex_unlock(&e->mu);
        if (c != NULL)
            on_readable(e, c);
    }
}

static void *engine_main(void *arg)
{
    ss_engine *e = arg;
    struct epoll_event events[256];
    for (;;) {
        pthread_mutex_lock(&e->mu);
        int stopping = e->stopping;
        int64_t now = ss_now_ms();
        int timeout = next_timeout(e, now);
        e->sleep_until = timeout < 0 ? INT64_MAX : now + timeout;
        pthread_mutex_unlock(&e->mu);
        if (stopping)
            break;
        int n = epoll_wait(e->epfd, events, 256, timeout);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++)
            handle_event(e, events[i].data.u64);
        pthread_mutex_lock(&e->mu);
        now = ss_now_ms();
        expire(e, now);
        resume_accepting(e, now);
        pthread_mutex_unlock(&e->mu);
    }
    return NULL;
}

static void signal_control(ss_engine *e)
{
    uint64_t one = 1;
    ssize_t r = write(e->control_fd, &one, sizeof(one));
    (void)r;
}

/* ---- creation and teardown ---- */

static int add_listener(ss_engine *e, int fd)
{
    listener *l = &e->listeners[e->nlisten];
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -errno;
    if (sa.ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)&sa;
        size_t plen = strnlen(un->sun_path, sizeof(un->sun_path));
        memcpy(l->addr, un->sun_path, plen);
        l->addr[plen] = '\0';
        l->addr_len = plen + 1;   /* path, NUL, empty port */
    } else {
        ss_format_addr((struct sockaddr *)&sa, l->addr, &l->addr_len);
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    l->fd = fd;
    struct epoll_event ev = {.events = EPOLLIN};  /* not exclusive: see watch_listener */
    ev.data.u64 = ((uint64_t)TAG_LISTENER << 32) | (uint32_t)e->nlisten;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        return -errno;
    e->nlisten++;
    e->listening = 1;
    return SS_OK;
}

/* Run with the last reference: the thread is joined (destroy did it; an
 * engine never destroyed keeps the registry's reference), so nothing else
 * touches e. Connections still in the table are those workers never handed
 * back. */
static void engine_free(ss_object *o)
{
    ss_engine *e = (ss_engine *)o;
    if (e->conns) {
        for (size_t fd = 0; fd < e->nconns; fd++)
            if (e->conns[fd])
                close_conn(e, e->conns[fd]);
        free(e->conns);
    }
    if (!e->drained_listeners)
        for (int i = 0; i < e->nlisten; i++)
            close(e->listeners[i].fd);
    if (e->epfd >= 0) close(e->epfd);
    if (e->control_fd >= 0) close(e->control_fd);
    if (e->drain_fd >= 0) close(e->drain_fd);
    if (e->queue) ss_queue_release(e->queue);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->idle_cond);
    free(e);
}

static int engine_init(ss_engine *e, const int *fds, int nlisten)
{
    struct rlimit rl;
    size_t n = 65536;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 22))
        n = rl.rlim_cur;
    e->conns = calloc(n, sizeof(ss_conn *));
    if (e->conns == NULL)
        return SS_ERR_NOMEM;
    e->nconns = n;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    e->control_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    e->drain_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (e->epfd < 0 || e->control_fd < 0 || e->drain_fd < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN};
    ev.data.u64 = (uint64_t)TAG_CONTROL << 32;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->control_fd, &ev) != 0)
        return -errno;
    for (int i = 0; i < nlisten; i++) {
        int rc = add_listener(e, fds[i]);
        if (rc != SS_OK)
            return rc;
    }
    return SS_OK;
}

int ss_engine_create(const int *listen_fds, int nlisten, const ss_engine_config *cfg,
                     ss_engine **out)
{
    if (nlisten < 1 || nlisten > SS_MAX_LISTENERS)
        return SS_ERR_BAD_ARG;
    ss_engine *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return SS_ERR_NOMEM;
    ss_object_init(&e->obj, "engine", engine_free);
    e->epfd = e->control_fd = e->drain_fd = -1;
    e->cfg = *cfg;
    pthread_mutex_init(&e->mu, NULL);
    ss_cond_init_monotonic(&e->idle_cond);
    /* The engine's own reference: its thread puts on the queue for as long
     * as it runs, whoever destroys the queue meanwhile. */
    e->queue = ss_queue_acquire(cfg->queue_id);
    int rc = e->queue ? engine_init(e, listen_fds, nlisten) : SS_ERR_NOT_FOUND;
    if (rc != SS_OK) {
        e->nlisten = 0;   /* the caller still owns the listening fds */
        engine_free(&e->obj);
        return rc;
    }
    ss_registry_add(&registry, &e->obj);
    *out = e;
    return SS_OK;
}

ss_engine *ss_engine_acquire(int64_t id)
{
    return (ss_engine *)ss_registry_acquire(&registry, id);
}

void ss_engine_release(ss_engine *e)
{
    ss_object_decref(&e->obj);
}

int ss_engine_start(ss_engine *e)
{
    /* Under the mutex, so that a concurrent destroy sees whether there is a
     * thread to join. The new thread's first step waits for this unlock. */
    pthread_mutex_lock(&e->mu);
    int rc = SS_OK;
    if (ss_object_closed(&e->obj))
        rc = SS_ERR_CLOSED;
    else if (e->thread_started)
        rc = SS_ERR_STARTED;
    else
        rc = ss_start_thread(engine_main, e, &e->thread);
    if (rc == SS_OK)
        e->thread_started = 1;
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int ss_engine_destroy(ss_engine *e)
{
    pthread_mutex_lock(&e->mu);
    int first = ss_object_close(&e->obj);
    e->stopping = 1;
    int started = e->thread_started;
    pthread_mutex_unlock(&e->mu);
    if (!first)
        return SS_ERR_CLOSED;
    if (started) {
        signal_control(e);
        pthread_join(e->thread, NULL);
    }
    pthread_mutex_lock(&e->mu);
    close_listeners_locked(e);
    close_owned_locked(e);
    /* wait_idle returns: nothing changes on a closed engine any more. */
    pthread_cond_broadcast(&e->idle_cond);
    pthread_mutex_unlock(&e->mu);
    ss_registry_remove(&registry, &e->obj);
    return SS_OK;
}

/* ---- the supervisor's calls ---- */

int ss_engine_limit_accepting(ss_engine *e, int64_t busy)
{
    if (busy < 0)
        return SS_ERR_BAD_ARG;
    pthread_mutex_lock(&e->mu);
    int closed = ss_object_closed(&e->obj);
    if (!closed) {
        __atomic_store_n(&e->accept_limit, busy, __ATOMIC_RELAXED);
        gate_listeners_locked(e);
    }
    pthread_mutex_unlock(&e->mu);
    return closed ? SS_ERR_CLOSED : SS_OK;
}

int ss_engine_drain(ss_engine *e)
{
    pthread_mutex_lock(&e->mu);
    int closed = ss_object_closed(&e->obj);
    if (!closed)
        __atomic_store_n(&e->draining, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&e->mu);
    if (closed)
        return SS_ERR_CLOSED;
    signal_control(e);
    /* Never read: it stays readable, so every loop watching it wakes once
     * (level-triggered) and lets go of the connections it keeps idle. */
    uint64_t one = 1;
    ssize_t r = write(e->drain_fd, &one, sizeof(one));
    (void)r;
    return SS_OK;
}

int ss_engine_drain_fd(ss_engine *e)
{
    return ss_object_closed(&e->obj) ? SS_ERR_CLOSED : e->drain_fd;
}

int64_t ss_engine_wait_idle(ss_engine *e, int64_t timeout_ms)
{
    struct timespec deadline = ss_deadline_after(timeout_ms);
    pthread_mutex_lock(&e->mu);
    /* Draining, the connections the engine still owns linger (drain_locked):
     * idle means none busy and none owned. */
    while (!e->obj.closed && (e->stats.busy > 0 ||
                              (e->draining && (!e->drained_listeners || e->stats.open > 0)))) {
        if (pthread_cond_timedwait(&e->idle_cond, &e->mu, &deadline) == ETIMEDOUT)
            break;
    }
    int64_t busy = e->obj.closed ? SS_ERR_CLOSED : e->stats.busy;
    pthread_mutex_unlock(&e->mu);
    return busy;
}

int ss_engine_draining(ss_engine *e)
{
    if (ss_object_closed(&e->obj))
        return SS_ERR_CLOSED;
    /* Read on every response (Connection: close while draining): no lock. */
    return __atomic_load_n(&e->draining, __ATOMIC_ACQUIRE);
}

int ss_engine_get_stats(ss_engine *e, ss_engine_stats *out)
{
    pthread_mutex_lock(&e->mu);
    int closed = e->obj.closed;
    out->accepted = e->stats.accepted;
    out->requests = __atomic_load_n(&e->stats.requests, __ATOMIC_RELAXED);
    out->rejected = e->stats.rejected;
    out->busy = e->stats.busy;
    out->open = e->stats.open;
    out->fd_limit_episodes = e->stats.fd_limit_episodes;
    out->fd_limit_closed = e->stats.fd_limit_closed;
    out->fd_limit_errno = e->stats.fd_limit_errno;
    out->accept_paused = e->fd_paused;
    pthread_mutex_unlock(&e->mu);
    return closed ? SS_ERR_CLOSED : SS_OK;
}

/* ---- the workers' verbs ---- */

/* With e->mu held: the worker gives c back for good. */
static void finish_busy_locked(ss_engine *e, ss_conn *c)
{
    c->busy = 0;
    e->stats.busy--;
    gate_listeners_locked(e);
    if (e->stats.busy == 0)
        pthread_cond_broadcast(&e->idle_cond);
}

/* With e->mu held: find the busy connection fd that a worker hands back.
 * On a closed engine it is closed here, its worker being done with it, and
 * the call fails. Under the mutex: a wrong fd must never reach a
 * connection the engine thread is freeing. */
static int claim_locked(ss_engine *e, int fd, ss_conn **out)
{
    ss_conn *c = fd >= 0 && (size_t)fd < e->nconns ? e->conns[fd] : NULL;
    int closed = e->obj.closed;
    if (c == NULL || !c->busy)
        return closed ? SS_ERR_CLOSED : SS_ERR_BAD_FD;
    if (closed) {
        finish_busy_locked(e, c);
        close_conn_locked(e, c);
        return SS_ERR_CLOSED;
    }
    *out = c;
    return SS_OK;
}

/* With e->mu held: c is the engine's again; close it, or park it in epoll
 * until its next request (a partial head under the header timeout). */
static void give_back_locked(ss_engine *e, ss_conn *c, int close_it)
{
    finish_busy_locked(e, c);
    if (close_it || e->stopping) {
        close_conn_locked(e, c);
        return;
    }
    int64_t now = ss_now_ms();
    int64_t deadline = now + (c->len ? e->cfg.header_timeout_ms : e->cfg.keepalive_ms);
    /* A response that went out keep-alive as the drain began: the client may
     * be sending its next request; it lingers like the others (drain_locked). */
    if (e->draining && deadline > now + SS_DRAIN_LINGER_MS)
        deadline = now + SS_DRAIN_LINGER_MS;
    list_append(e, c, c->len ? LIST_HEADER : LIST_IDLE, deadline);
    if (arm(e, c, EPOLL_CTL_MOD) != SS_OK) {
        close_conn_locked(e, c);
    } else if (deadline < e->sleep_until) {
        /* The engine sleeps past this deadline: wake it to re-plan. */
        e->sleep_until = deadline;
        signal_control(e);
    }
}

/* Claim and give back in one hold of the mutex: one lock per request. */
static int hand_back(ss_engine *e, int fd, int close_it)
{
    pthread_mutex_lock(&e->mu);
    ss_conn *c = NULL;
    int rc = claim_locked(e, fd, &c);
    if (rc == SS_OK)
        give_back_locked(e, c, close_it);
    pthread_mutex_unlock(&e->mu);
    return rc;
}

int ss_engine_close_connection(ss_engine *e, int fd)
{
    return hand_back(e, fd, 1);
}

int ss_engine_park(ss_engine *e, int fd)
{
    return hand_back(e, fd, 0);
}

/* Parse bytes read after a response into c, which the worker still owns:
 * no lock for the parse. */
static parse_outcome take_leftover(ss_engine *e, ss_conn *c, const char *data, size_t len,
                                   ss_item **next)
{
    if (grow_buf(c, len) != SS_OK)
        return PARSED_CLOSE;
    memcpy(c->buf, data, len);
    c->len = len;
    return parse_conn(e, c, next);
}

int ss_engine_next_request(ss_engine *e, int fd, const char *data, size_t len, ss_item **next)
{
    *next = NULL;
    /* Draining, a request the client already sent is still served (its
     * response says Connection: close); with none, the park closes it. */
    if (len == 0)
        return hand_back(e, fd, 0);
    pthread_mutex_lock(&e->mu);
    ss_conn *c = NULL;
    int rc = claim_locked(e, fd, &c);
    pthread_mutex_unlock(&e->mu);
    if (rc != SS_OK)
        return rc;
    /* A complete head is served by this same worker right away: no trip
     * through the queue, which a worker must never block on. */
    parse_outcome out = take_leftover(e, c, data, len, next);
    if (out == PARSED_ITEM) {
        __atomic_add_fetch(&e->stats.requests, 1, __ATOMIC_RELAXED);
        return SS_OK;   /* still busy, now with the next request */
    }
    /* A partial head the engine completes, or a bad one already answered. */
    pthread_mutex_lock(&e->mu);
    give_back_locked(e, c, out == PARSED_CLOSE);
    pthread_mutex_unlock(&e->mu);
    return SS_OK;
}
