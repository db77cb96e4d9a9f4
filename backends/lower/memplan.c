/* backends/lower/memplan.c — activation arena planning (docs/kernels.md,
 * "Memory plan"). */
#include <stdlib.h>
#include <string.h>

#include "lower_internal.h"

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

typedef struct order_entry {
  int32_t index;
  uint64_t size;
  int32_t start;
} order_entry_t;

static int by_size_desc(const void *pa, const void *pb) {
  const order_entry_t *a = pa, *b = pb;
  if (a->size != b->size) return a->size > b->size ? -1 : 1;
  if (a->start != b->start) return a->start < b->start ? -1 : 1;
  return a->index - b->index;
}

typedef struct span {
  uint64_t begin, end; /* [begin, end) */
} span_t;

static int by_begin(const void *pa, const void *pb) {
  const span_t *a = pa, *b = pb;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  return a->end < b->end ? -1 : (a->end > b->end);
}

npu_status_t npu_memplan_solve(const npu_memplan_item_t *items, int32_t count,
                               uint64_t alignment, uint64_t *offsets, uint64_t *peak) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    return npu_error(NPU_STATUS_INVALID_ARGUMENT,
                     "memplan: alignment %llu is not a power of two",
                     (unsigned long long)alignment);
  *peak = 0;
  if (count <= 0) return NULL;
  for (int32_t i = 0; i < count; i++)
    if (items[i].start > items[i].end)
      return npu_error(NPU_STATUS_INVALID_ARGUMENT, "memplan: item %d ends before it starts",
                       (int)i);
  order_entry_t *order = malloc(sizeof *order * (size_t)count);
  bool *placed = calloc((size_t)count, sizeof(bool));
  span_t *busy = malloc(sizeof *busy * (size_t)count);
  if (!order || !placed || !busy) {
    free(order);
    free(placed);
    free(busy);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "memplan: out of memory");
  }
  for (int32_t i = 0; i < count; i++)
    order[i] = (order_entry_t){.index = i, .size = items[i].size, .start = items[i].start};
  qsort(order, (size_t)count, sizeof *order, by_size_desc);
  uint64_t top = 0;
  for (int32_t k = 0; k < count; k++) {
    int32_t i = order[k].index;
    uint64_t size = align_up(items[i].size ? items[i].size : 1, alignment);
    int32_t nbusy = 0;
    for (int32_t j = 0; j < count; j++) {
      if (!placed[j]) continue;
      if (items[j].end < items[i].start || items[i].end < items[j].start) continue;
      busy[nbusy++] = (span_t){offsets[j], offsets[j] + align_up(items[j].size ? items[j].size : 1,
                                                                  alignment)};
    }
    qsort(busy, (size_t)nbusy, sizeof *busy, by_begin);
    /* First fit: the lowest gap between busy spans that holds `size`. */
    uint64_t at = 0;
    for (int32_t b = 0; b < nbusy; b++) {
      if (busy[b].begin >= at + size) break;
      if (busy[b].end > at) at = align_up(busy[b].end, alignment);
    }
    offsets[i] = at;
    placed[i] = true;
    if (at + size > top) top = at + size;
  }
  free(order);
  free(placed);
  free(busy);
  *peak = top;
  return NULL;
}

npu_status_t npu_memplan_compute(const npu_graph_t *g, uint64_t alignment, uint64_t *offsets,
                                 npu_memplan_stats_t *stats) {
  lower_analysis_t a;
  NPU_RETURN_IF_ERROR(lower_analyze(g, &a));
  int32_t nt = a.num_tensors;
  npu_memplan_item_t *items = malloc(sizeof *items * (size_t)(nt + 1));
  npu_tensor_id_t *ids = malloc(sizeof *ids * (size_t)(nt + 1));
  uint64_t *offs = malloc(sizeof *offs * (size_t)(nt + 1));
  if (!items || !ids || !offs) {
    free(items);
    free(ids);
    free(offs);
    lower_analysis_free(&a);
    return npu_error(NPU_STATUS_OUT_OF_MEMORY, "memplan: out of memory");
  }
  int32_t count = lower_plan_items(g, &a, alignment, items, ids);
  uint64_t peak = 0;
  npu_status_t st = npu_memplan_solve(items, count, alignment, offs, &peak);
  if (!st) {
    if (offsets) {
      for (int32_t t = 0; t < nt; t++) offsets[t] = UINT64_MAX;
      for (int32_t i = 0; i < count; i++) offsets[ids[i]] = offs[i];
      for (int32_t t = 0; t < nt; t++) offsets[t] = offsets[a.root[t]];
    }
    if (stats) {
      memset(stats, 0, sizeof *stats);
      stats->peak_bytes = peak;
      stats->planned = count;
      stats->steps = a.num_steps;
      for (int32_t i = 0; i < count; i++)
        stats->naive_bytes += align_up(items[i].size ? items[i].size : 1, alignment);
    }
  }
  free(items);
  free(ids);
  free(offs);
  lower_analysis_free(&a);
  return st;
}
