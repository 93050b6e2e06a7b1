/* Process-wide registries of engine objects (queues, pools, engines), named
 * by small integer ids so that any interpreter can reach them with an int.
 * No Python here.
 *
 * Slots change only under the mutex (add/remove); lookups are lock-free
 * acquire loads because they sit on the per-request path. An object is
 * removed only once no other thread can still look it up (server teardown). */
#ifndef SUBSERVE_REGISTRY_H
#define SUBSERVE_REGISTRY_H

#include <pthread.h>
#include <stdint.h>

#include "errors.h"

typedef struct {
    pthread_mutex_t mu;
    int size;
    void **slots;
} ss_registry;

#define SS_REGISTRY(slot_array) \
    {PTHREAD_MUTEX_INITIALIZER, (int)(sizeof(slot_array) / sizeof((slot_array)[0])), (slot_array)}

static inline int ss_registry_add(ss_registry *r, void *obj, int64_t *id_out)
{
    pthread_mutex_lock(&r->mu);
    for (int i = 0; i < r->size; i++) {
        if (r->slots[i] == NULL) {
            __atomic_store_n(&r->slots[i], obj, __ATOMIC_RELEASE);
            pthread_mutex_unlock(&r->mu);
            *id_out = i + 1;
            return SS_OK;
        }
    }
    pthread_mutex_unlock(&r->mu);
    return SS_ERR_TOO_MANY;
}

static inline void *ss_registry_get(ss_registry *r, int64_t id)
{
    if (id < 1 || id > r->size)
        return NULL;
    return __atomic_load_n(&r->slots[id - 1], __ATOMIC_ACQUIRE);
}

/* Returns the object that was registered under id, or NULL. */
static inline void *ss_registry_remove(ss_registry *r, int64_t id)
{
    if (id < 1 || id > r->size)
        return NULL;
    pthread_mutex_lock(&r->mu);
    void *obj = r->slots[id - 1];
    __atomic_store_n(&r->slots[id - 1], NULL, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&r->mu);
    return obj;
}

#endif
