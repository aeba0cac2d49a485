// ICU's memory counted against the heap limit. Intl objects keep their
// state in ICU's malloc'd memory, which V8's heap limit never sees (an Intl
// loop under a 64 MiB limit once reached 8 GB in-process). ICU lets an
// embedder route its allocations (u_setMemoryFunctions); the allocations
// made on a thread inside an evaluation are charged to that evaluation's
// isolate, and one past the heap limit asks V8, at its next safe point, to
// collect garbage and stop the script if ICU still holds too much: as
// WebAssembly memories, ICU memory has a budget of one heap limit.

#include <malloc.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "internal.h"

namespace v8cage_shim {

namespace {

using IcuAlloc = void*(const void* context, size_t size);
using IcuRealloc = void*(const void* context, void* mem, size_t size);
using IcuFree = void(const void* context, void* mem);
// u_setMemoryFunctions; its last parameter is a UErrorCode*, an int-sized enum.
using IcuSetMemoryFunctions = void(const void* context, IcuAlloc* alloc, IcuRealloc* realloc, IcuFree* free,
                                   int* status);

// The isolate whose evaluation runs on this thread (Session), if any.
thread_local v8cage_isolate* t_charged = nullptr;
bool g_icu_counted = false;

void CheckIcuMemory(v8::Isolate* isolate, void* data) {
  auto* self = static_cast<v8cage_isolate*>(data);
  self->icu_check_pending.store(false);
  if (IcuBytes(self) <= self->limits.heap_limit) return;
  // Dead Intl objects free their ICU memory when V8 collects them.
  isolate->LowMemoryNotification();
  if (IcuBytes(self) > self->limits.heap_limit) {
    self->icu_limit_hit = true;
    StopForMemory(self);
  }
}

void Charge(v8cage_isolate* self, ptrdiff_t bytes) {
  int64_t now = self->icu_bytes.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  size_t limit = self->limits.heap_limit;
  if (bytes > 0 && limit != 0 && now > static_cast<int64_t>(limit) && !self->icu_check_pending.exchange(true)) {
    // Not here: ICU may be allocating inside V8 code that cannot collect
    // garbage. An interrupt runs at the next point where V8 can.
    self->isolate->RequestInterrupt(CheckIcuMemory, self);
  }
}

// malloc_usable_size, not a size header: a block ICU allocated before the
// hooks were installed (plain malloc) is freed through them too.
void* CountedAlloc(const void*, size_t size) {
  void* mem = std::malloc(size);
  if (mem != nullptr && t_charged != nullptr) Charge(t_charged, static_cast<ptrdiff_t>(malloc_usable_size(mem)));
  return mem;
}

void* CountedRealloc(const void*, void* mem, size_t size) {
  size_t before = mem != nullptr ? malloc_usable_size(mem) : 0;
  void* moved = std::realloc(mem, size);
  if (moved != nullptr && t_charged != nullptr) {
    Charge(t_charged, static_cast<ptrdiff_t>(malloc_usable_size(moved)) - static_cast<ptrdiff_t>(before));
  }
  return moved;
}

void CountedFree(const void*, void* mem) {
  if (mem != nullptr && t_charged != nullptr) {
    t_charged->icu_bytes.fetch_sub(static_cast<int64_t>(malloc_usable_size(mem)), std::memory_order_relaxed);
  }
  std::free(mem);
}

// The ICU that V8 uses: u_setMemoryFunctions_<major> of a system ICU that
// the V8 library links (Debian's libnode), or the export our V8 build adds
// for the ICU built into libv8.so (v8cage_icu_set_memory_functions).
IcuSetMemoryFunctions* FindIcuSetter() {
  void* found = V8LibrarySymbol("v8cage_icu_set_memory_functions");
  for (int major = 99; found == nullptr && major >= 50; --major) {
    char name[32];
    std::snprintf(name, sizeof name, "u_setMemoryFunctions_%d", major);
    found = V8LibrarySymbol(name);
  }
  return reinterpret_cast<IcuSetMemoryFunctions*>(found);
}

}  // namespace

size_t IcuBytes(v8cage_isolate* self) {
  // Below zero when a thread freed blocks charged elsewhere (ICU's caches).
  return static_cast<size_t>(std::max<int64_t>(self->icu_bytes.load(std::memory_order_relaxed), 0));
}

void CountIcuMemory() {
  IcuSetMemoryFunctions* set = FindIcuSetter();
  if (set == nullptr) return;
  int status = 0;
  set(nullptr, CountedAlloc, CountedRealloc, CountedFree, &status);
  g_icu_counted = status <= 0;  // U_ZERO_ERROR or a warning
}

IcuCharge::IcuCharge(v8cage_isolate* self) : outer_(t_charged) { t_charged = self; }

IcuCharge::~IcuCharge() { t_charged = outer_; }

}  // namespace v8cage_shim

extern "C" int v8cage_icu_memory_counted(void) { return v8cage_shim::g_icu_counted ? 1 : 0; }
