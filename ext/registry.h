/* Process-wide registries of engine objects (queues, pools, engines), named
 * by integer ids so that any interpreter can reach them with an int.
 * No Python here.
 *
 * Every operation runs under the registry's mutex. Lookups are no longer on
 * the per-request path (a worker binds its objects once, then uses the
 * reference it holds), so a lock costs nothing that matters, and it is what
 * makes acquire safe: the reference is taken inside the lock, so a
 * concurrent remove cannot free the object between the lookup and the
 * increment. Ids grow monotonically and are never reused, so a stale id can
 * never name a later object. */
#ifndef SUBSERVE_REGISTRY_H
#define SUBSERVE_REGISTRY_H

#include <pthread.h>
#include <stdint.h>

#include "object.h"

typedef struct {
    pthread_mutex_t mu;
    ss_object *head;
    int64_t last_id;
} ss_registry;

#define SS_REGISTRY_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0}

/* Register o under a fresh id (returned, and stored in o->id); the registry
 * takes a reference of its own, kept until ss_registry_remove. */
static inline int64_t ss_registry_add(ss_registry *r, ss_object *o)
{
    pthread_mutex_lock(&r->mu);
    o->id = ++r->last_id;
    o->next_registered = r->head;
    r->head = o;
    ss_object_incref(o);
    pthread_mutex_unlock(&r->mu);
    return o->id;
}

/* The open object registered under id with a reference taken for the
 * caller, or NULL when there is none (unknown, or destroyed). */
static inline ss_object *ss_registry_acquire(ss_registry *r, int64_t id)
{
    pthread_mutex_lock(&r->mu);
    ss_object *o = r->head;
    while (o != NULL && o->id != id)
        o = o->next_registered;
    if (o != NULL && ss_object_closed(o))
        o = NULL;
    if (o != NULL)
        ss_object_incref(o);
    pthread_mutex_unlock(&r->mu);
    return o;
}

/* Unregister o and drop the registry's reference; by the one caller that
 * closed it. The decref runs outside the lock: a free may take a while
 * (an engine closes its sockets) and must not hold up other lookups. */
static inline void ss_registry_remove(ss_registry *r, ss_object *o)
{
    pthread_mutex_lock(&r->mu);
    ss_object **link = &r->head;
    while (*link != NULL && *link != o)
        link = &(*link)->next_registered;
    int found = *link != NULL;
    if (found)
        *link = o->next_registered;
    pthread_mutex_unlock(&r->mu);
    if (found)
        ss_object_decref(o);
}

#endif
