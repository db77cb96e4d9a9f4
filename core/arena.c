#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct npu_arena_block {
  npu_arena_block_t *next;
  size_t capacity;
  _Alignas(16) unsigned char data[];
};

enum { ARENA_BLOCK_SIZE = 64 * 1024, ARENA_ALIGN = 16 };

void npu_arena_init(npu_arena_t *arena) { memset(arena, 0, sizeof *arena); }

void npu_arena_release(npu_arena_t *arena) {
  npu_arena_block_t *b = arena->head;
  while (b) {
    npu_arena_block_t *next = b->next;
    free(b);
    b = next;
  }
  npu_arena_init(arena);
}

void *npu_arena_alloc(npu_arena_t *arena, size_t size) {
  if (size > SIZE_MAX - ARENA_ALIGN - sizeof(npu_arena_block_t)) return NULL;
  size = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  if (size == 0) size = ARENA_ALIGN;
  if (!arena->head || arena->capacity - arena->used < size) {
    size_t cap = size > ARENA_BLOCK_SIZE ? size : ARENA_BLOCK_SIZE;
    npu_arena_block_t *b = malloc(sizeof *b + cap);
    if (!b) return NULL;
    b->next = arena->head;
    b->capacity = cap;
    arena->head = b;
    arena->used = 0;
    arena->capacity = cap;
    arena->total += sizeof *b + cap;
  }
  void *p = arena->head->data + arena->used;
  arena->used += size;
  return p;
}

void *npu_arena_calloc(npu_arena_t *arena, size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  void *p = npu_arena_alloc(arena, count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

char *npu_arena_strndup(npu_arena_t *arena, const char *s, size_t n) {
  char *p = npu_arena_alloc(arena, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *npu_arena_strdup(npu_arena_t *arena, const char *s) {
  return npu_arena_strndup(arena, s, strlen(s));
}
