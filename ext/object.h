/* The header every process-wide engine object (queue, engine, pool) starts
 * with. No Python here.
 *
 * Such an object is shared by every interpreter of the process, each of
 * which reaches it through a counted reference: the registry holds one from
 * creation until destroy; every Python handle holds one (released in its
 * dealloc); an engine holds one on its queue; a running pool worker thread
 * holds one on its pool until it touched the pool for the last time. The
 * memory goes with the last reference, never earlier, so a handle used
 * after destroy finds a closed object, never freed memory. */
#ifndef SUBSERVE_OBJECT_H
#define SUBSERVE_OBJECT_H

#include <stdint.h>

typedef struct ss_object {
    struct ss_object *next_registered;  /* the registry's chain, under its mutex */
    int refs;                           /* atomic */
    int closed;                         /* atomic; set once, by destroy */
    int64_t id;                         /* given by the registry, never reused */
    const char *kind;                   /* "queue", "engine", "pool": for messages */
    void (*free)(struct ss_object *);   /* run when refs reaches zero */
} ss_object;

/* One reference, the creator's; the registry takes its own when it adds. */
static inline void ss_object_init(ss_object *o, const char *kind, void (*free_fn)(ss_object *))
{
    o->next_registered = NULL;
    o->refs = 1;
    o->closed = 0;
    o->id = 0;
    o->kind = kind;
    o->free = free_fn;
}

/* Only by a holder of a reference (or under the registry mutex): the count
 * cannot be zero here, so relaxed ordering is enough. */
static inline void ss_object_incref(ss_object *o)
{
    __atomic_add_fetch(&o->refs, 1, __ATOMIC_RELAXED);
}

/* Acquire-release: every use of the object by this holder happens before
 * the free that another holder's last decref may run. */
static inline void ss_object_decref(ss_object *o)
{
    if (__atomic_sub_fetch(&o->refs, 1, __ATOMIC_ACQ_REL) == 0)
        o->free(o);
}

static inline int ss_object_closed(const ss_object *o)
{
    return __atomic_load_n(&o->closed, __ATOMIC_ACQUIRE);
}

/* Mark o closed; 1 for the one caller that did, 0 when it already was. */
static inline int ss_object_close(ss_object *o)
{
    return __atomic_exchange_n(&o->closed, 1, __ATOMIC_ACQ_REL) == 0;
}

#endif
