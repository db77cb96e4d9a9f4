/* A bump allocator freed as a whole. Internal to core/. Graph strings and
 * arrays live here, so nothing in a graph is freed one piece at a time. */
#ifndef NPU_CORE_ARENA_H
#define NPU_CORE_ARENA_H

#include <stddef.h>

typedef struct npu_arena_block npu_arena_block_t;

typedef struct npu_arena {
  npu_arena_block_t *head;
  size_t used;     /* bytes used in head */
  size_t capacity; /* bytes in head */
  size_t total;    /* bytes allocated from malloc, for memory reports */
} npu_arena_t;

void npu_arena_init(npu_arena_t *arena);
void npu_arena_release(npu_arena_t *arena);
/* 16-byte aligned, uninitialised; NULL on overflow or out of memory. */
void *npu_arena_alloc(npu_arena_t *arena, size_t size);
void *npu_arena_calloc(npu_arena_t *arena, size_t count, size_t size);
char *npu_arena_strdup(npu_arena_t *arena, const char *s);
char *npu_arena_strndup(npu_arena_t *arena, const char *s, size_t n);

#endif
