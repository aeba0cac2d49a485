// Edge coverage for Fuzzilli, in the layout its libcoverage reads: a shared
// memory region named by $SHM_ID holding `uint32_t num_edges` and then one
// bit per edge. Every module built with -fsanitize-coverage=trace-pc-guard
// (our binary, and libv8.so when its build is instrumented) registers its
// guards here at load time; they are numbered across modules into one
// bitmap. A guard reports its edge once and is then silenced (set to 0)
// until v8cage_cov_reset_edge_guards() re-arms every guard after an
// execution, so each execution pays for each edge once, as in V8's d8.
//
// C, not Rust: the callbacks must not be instrumented themselves.

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// Fuzzilli's SHM_SIZE (libcoverage.h).
#define V8CAGE_SHM_SIZE 0x200000
#define V8CAGE_MAX_EDGES ((V8CAGE_SHM_SIZE - 4) * 8)
// Modules (executable and shared libraries) with guards, at most.
#define V8CAGE_MAX_MODULES 16

struct v8cage_shmem {
  uint32_t num_edges;
  uint8_t edges[];
};

static struct v8cage_shmem* shmem;
static uint32_t* module_start[V8CAGE_MAX_MODULES];
static uint32_t* module_stop[V8CAGE_MAX_MODULES];
static int modules;
static uint32_t edges;

// The bitmap: Fuzzilli's region if $SHM_ID names one, else memory of our
// own (the target then runs without a fuzzer, e.g. by hand).
static struct v8cage_shmem* bitmap(void) {
  if (shmem != NULL) return shmem;
  const char* id = getenv("SHM_ID");
  if (id != NULL) {
    int fd = shm_open(id, O_RDWR, S_IRUSR | S_IWUSR);
    if (fd >= 0) {
      void* region = mmap(NULL, V8CAGE_SHM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      close(fd);
      if (region != MAP_FAILED) shmem = region;
    }
    if (shmem == NULL) {
      fprintf(stderr, "v8cage-reprl: cannot map the coverage region SHM_ID=%s\n", id);
      _exit(2);
    }
  } else {
    shmem = calloc(1, V8CAGE_SHM_SIZE);
    if (shmem == NULL) _exit(2);
  }
  return shmem;
}

static void arm(uint32_t* start, uint32_t* stop, uint32_t* next) {
  for (uint32_t* guard = start; guard < stop; guard++) {
    if (*next + 1 >= V8CAGE_MAX_EDGES) {
      *guard = 0;  // beyond the bitmap: never reported
      continue;
    }
    *guard = ++*next;
  }
}

void __sanitizer_cov_trace_pc_guard_init(uint32_t* start, uint32_t* stop) {
  // Called once per module (and again for a module already seen, which
  // changes nothing).
  if (start == stop || *start != 0) return;
  if (modules == V8CAGE_MAX_MODULES) {
    fprintf(stderr, "v8cage-reprl: more than %d instrumented modules\n", V8CAGE_MAX_MODULES);
    _exit(2);
  }
  module_start[modules] = start;
  module_stop[modules] = stop;
  modules++;
  arm(start, stop, &edges);
  bitmap()->num_edges = edges;
}

void __sanitizer_cov_trace_pc_guard(uint32_t* guard) {
  uint32_t index = *guard;
  if (index == 0) return;
  shmem->edges[index / 8] |= (uint8_t)(1u << (index % 8));
  *guard = 0;
}

// Re-arms every guard (after each execution), numbered as at start-up.
void v8cage_cov_reset_edge_guards(void) {
  uint32_t next = 0;
  for (int i = 0; i < modules; i++) arm(module_start[i], module_stop[i], &next);
}

// How many edges the instrumented modules have (0: nothing instrumented).
uint32_t v8cage_cov_edges(void) { return edges; }

// fuzzilli('FUZZILLI_CRASH', kind): Fuzzilli's start-up check that crashes
// are seen, kind by kind as V8's d8 numbers them. Kind 3 is a real memory
// error: ASan reports the heap overflow; without ASan the wild write after
// it faults. Unknown kinds do nothing, as in d8.
void v8cage_fuzzilli_crash(int kind) {
  switch (kind) {
    case 0:  // IMMEDIATE_CRASH
    case 1:  // CHECK failure
    case 2:  // DCHECK failure
    case 8:  // "DEBUG is defined"
    case 9:  // sandbox violation
      abort();
    case 3: {  // wild write
      volatile char* heap = malloc(16);
      volatile size_t past_the_end = 16 + (size_t)kind;  // volatile: no compile-time warning
      if (heap != NULL) heap[past_the_end] = 'x';
      *(volatile int*)(uintptr_t)0x41414141 = 0x41;
      abort();
    }
    default: return;
  }
}
