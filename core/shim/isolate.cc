// The engine and isolates: process-wide start-up, an isolate's life, its
// heap limit and memory limits, and stop requests from any thread.

#include <libplatform/libplatform.h>

#include <algorithm>
#include <climits>
#include <memory>
#include <string>

#include "flatten.h"
#include "internal.h"
#include "modules.h"
#include "report.h"

namespace v8cage_shim {

v8::Platform* g_platform = nullptr;

void StopForMemory(v8cage_isolate* self) {
  std::lock_guard<std::mutex> lock(self->stop_mutex);
  if (self->running && self->stop_reason == V8CAGE_STOP_NONE) {
    self->stop_reason = V8CAGE_STOP_OUT_OF_MEMORY;
    RequestTermination(self);
  }
}

namespace {

// Bytes granted past a heap limit of `heap_limit` once it is hit.
size_t HeapLimitGrace(size_t heap_limit, uint32_t options) {
  if ((options & V8CAGE_OPTION_CONTAINED) == 0) return kInProcessHeapLimitGrace;
  // The largest object a heap grows (a backing store or hash table doubling)
  // is about the heap's size.
  return std::max(heap_limit, kMinContainedHeapLimitGrace);
}

// After every GC: compare the live heap with the soft and hard limits, and
// memory outside the JS heap with the heap limit. WebAssembly memories are
// not allocated through the ArrayBuffer allocator (CountingAllocator never
// sees them) but V8 counts them as external memory, and a large one makes
// V8 collect garbage at once, so this runs right after it is made.
void CheckMemoryLimits(v8::Isolate* isolate, v8::GCType, v8::GCCallbackFlags, void* data) {
  auto* self = static_cast<v8cage_isolate*>(data);
  size_t soft = self->soft_memory_limit.load(std::memory_order_relaxed);
  size_t hard = self->hard_memory_limit.load(std::memory_order_relaxed);
  size_t external_limit = self->limits.heap_limit;
  if (soft == 0 && hard == 0 && external_limit == 0) return;
  v8::HeapStatistics stats;
  isolate->GetHeapStatistics(&stats);
  if (external_limit != 0 && v8cage_compat::ExternalMemory(isolate, stats) > external_limit) {
    self->external_limit_hit = true;
    StopForMemory(self);
  }
  size_t used = stats.used_heap_size();
  if (soft != 0 && used > soft) self->soft_memory_limit_reached = true;
  if (hard != 0 && used > hard) {
    self->hard_memory_limit_reached = true;
    StopForMemory(self);
  }
}

}  // namespace

size_t NearHeapLimit(void* data, size_t current_heap_limit, size_t initial_heap_limit) {
  auto* self = static_cast<v8cage_isolate*>(data);
  self->initial_heap_limit = initial_heap_limit;
  self->heap_limit_hit = true;
  // A builtin that allocates without ever checking for termination (e.g.
  // `new Array(1.2e8).fill(0)` on dictionary elements) would take every
  // grace we give; past a few, V8's own out-of-memory abort is the lesser evil.
  if (++self->heap_limit_graces > kMaxHeapLimitGraces) return current_heap_limit;
  {
    std::lock_guard<std::mutex> lock(self->stop_mutex);
    // Outside an evaluation (a GC at start-up or clean-up) there is no script
    // to stop; the grace alone keeps V8 from aborting.
    if (self->running) {
      // An out-of-memory stop wins over a pending timeout/terminate: it says more.
      self->stop_reason = V8CAGE_STOP_OUT_OF_MEMORY;
      RequestTermination(self);
    }
  }
  // Grace room so the allocation in flight succeeds and termination can unwind;
  // the limit is restored after the evaluation (see Session::~Session).
  return current_heap_limit + HeapLimitGrace(initial_heap_limit, self->limits.options);
}

}  // namespace v8cage_shim

using namespace v8cage_shim;

#ifdef V8CAGE_KERNEL_PLACED_PAGES
// testing/kernel_placed_pages.cc (libFuzzer + ASan builds only).
v8::Platform* V8cageWrapPlatformWithKernelPlacedPages(v8::Platform* inner);
#endif

extern "C" {

int v8cage_engine_init(const char* flags, size_t flags_len) {
  return Guarded(
      [&]() -> int {
        // Ours first, so the embedder's flags can override them. The startup
        // snapshot is inside the V8 library, mapped read-only; checksumming
        // all of it on every isolate creation was ~20% of a new context.
        // (kEngineFlags in compat.h also has what a V8 version needs.)
        v8::V8::SetFlagsFromString(v8cage_compat::kEngineFlags);
        if (flags != nullptr && flags_len != 0) {
          std::string owned(flags, flags_len);
          v8::V8::SetFlagsFromString(owned.c_str(), owned.size());
        }
        CountIcuMemory();
        g_platform = v8::platform::NewDefaultPlatform().release();
#ifdef V8CAGE_KERNEL_PLACED_PAGES
        v8::V8::InitializePlatform(V8cageWrapPlatformWithKernelPlacedPages(g_platform));
#else
        v8::V8::InitializePlatform(g_platform);
#endif
        return v8::V8::Initialize() ? 0 : 1;
      },
      [] { return 1; });
}

const char* v8cage_v8_version(void) { return v8::V8::GetVersion(); }

size_t v8cage_v8_max_heap_limit(void) { return v8cage_compat::kMaxHeapLimit; }

int v8cage_v8_sandboxed(void) {
  return Guarded([]() -> int { return v8cage_compat::SandboxEnabled() ? 1 : 0; }, [] { return 0; });
}

}  // extern "C"

namespace v8cage_shim {

void ReleaseIsolateState(v8cage_isolate* iso) {
  iso->handles.clear();
  iso->lent_buffers.clear();
  iso->timers.clear();
  iso->timer_keys.clear();
  iso->context.Reset();
  iso->script_name.Reset();
  iso->modules.clear();
  iso->module_names.clear();
  iso->number_copier.Reset();
  iso->number_copier_out.Reset();
  iso->number_copier_other.Reset();
  iso->number_copier_data.reset();
  iso->object_keys.Reset();
  iso->flattener.Reset();
  iso->flatten_visit.Reset();
  iso->flatten_buffers.clear();
}

void DisposeIsolate(v8cage_isolate* iso) {
  // The platform keeps a task runner (and its queued tasks) per isolate
  // until told the isolate is gone; without this every freed context
  // leaked them (found by the api_ops fuzzer's out-of-memory report).
  v8::platform::NotifyIsolateShutdown(g_platform, iso->isolate);
  if (iso->creator != nullptr) {
    // The creator exits the isolate it entered, and disposes of it.
    iso->isolate->Enter();
    iso->creator.reset();
  } else {
    iso->isolate->Dispose();
  }
}

}  // namespace v8cage_shim

extern "C" {

v8cage_isolate* v8cage_isolate_new(const v8cage_limits* limits) {
  return Guarded(
      [&]() -> v8cage_isolate* {
        auto self = std::make_unique<v8cage_isolate>();
        self->limits = *limits;
        self->allocator = std::make_unique<CountingAllocator>(limits->heap_limit);
        v8::Isolate::CreateParams params;
        params.array_buffer_allocator = self->allocator.get();
        if (limits->heap_limit != 0) params.constraints.ConfigureDefaultsFromHeapSize(0, limits->heap_limit);
        if (limits->snapshot != nullptr) {
          if (limits->snapshot_len > static_cast<size_t>(INT_MAX)) return nullptr;
          self->startup_data = {reinterpret_cast<const char*>(limits->snapshot),
                                static_cast<int>(limits->snapshot_len)};
          params.snapshot_blob = &self->startup_data;
        }
        bool creator = (limits->options & V8CAGE_OPTION_SNAPSHOT_CREATOR) != 0;
        v8::Isolate* isolate = nullptr;
        if (creator) {
          self->creator = v8cage_compat::NewSnapshotCreator(params);
          isolate = self->creator->GetIsolate();
          // The creator entered the isolate on this thread; every use
          // enters it for itself, as with any other isolate.
          isolate->Exit();
          if (!v8cage_compat::kSnapshotCreatorTakesParams) self->hard_memory_limit = limits->heap_limit;
        } else {
          isolate = v8::Isolate::New(params);
        }
        if (isolate == nullptr) return nullptr;
        self->isolate = isolate;
        bool created = false;
        {
          v8::Locker locker(isolate);
          v8::Isolate::Scope isolate_scope(isolate);
          v8::HandleScope handle_scope(isolate);
          isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
          // No other thread can ever notify this isolate: a wait only deadlocks.
          isolate->SetAllowAtomicsWait(false);
          isolate->AddNearHeapLimitCallback(NearHeapLimit, self.get());
          isolate->AddGCEpilogueCallback(CheckMemoryLimits, self.get());
          isolate->SetData(0, self.get());
          isolate->SetHostImportModuleDynamicallyCallback(ImportModuleDynamically);
          v8::Local<v8::Context> context = v8::Context::New(isolate);
          bool ready = !context.IsEmpty();
          if (ready) {
            // Without it results are read property by property (slower, same values).
            v8::Context::Scope context_scope(context);
            RememberObjectKeys(self.get(), context);
          }
          if (ready && !creator && (limits->options & V8CAGE_OPTION_EVENT_LOOP) != 0) {
            v8::Context::Scope context_scope(context);
            ready = InstallTimers(self.get(), context);
          }
          v8::Local<v8::String> script_name;
          ready = ready && v8::String::NewFromUtf8(isolate, "<anonymous>").ToLocal(&script_name);
          if (ready) {
            self->script_name.Reset(isolate, script_name);
            self->context.Reset(isolate, context);
            created = true;
          }
        }
        if (!created) {
          DisposeIsolate(self.get());
          return nullptr;
        }
        return self.release();
      },
      [] { return nullptr; });
}

void v8cage_isolate_free(v8cage_isolate* iso) {
  if (iso == nullptr) return;
  GuardedVoid([&] {
    if (!iso->snapshot_taken) {
      v8::Locker locker(iso->isolate);
      v8::Isolate::Scope isolate_scope(iso->isolate);
      ReleaseIsolateState(iso);
    }
    DisposeIsolate(iso);
    delete iso;
  });
}

void v8cage_open_stop_window(v8cage_isolate* iso) {
  GuardedVoid([&] {
    std::lock_guard<std::mutex> lock(iso->stop_mutex);
    OpenStopWindowLocked(iso);
  });
}

void v8cage_close_stop_window(v8cage_isolate* iso) {
  GuardedVoid([&] {
    std::lock_guard<std::mutex> lock(iso->stop_mutex);
    CloseStopWindowLocked(iso);
  });
}

void v8cage_request_stop(v8cage_isolate* iso, int reason) {
  GuardedVoid([&] { RequestStop(iso, reason); });
}

void v8cage_set_memory_limits(v8cage_isolate* iso, size_t soft, size_t hard) {
  iso->soft_memory_limit = soft;
  iso->hard_memory_limit = hard;
  iso->soft_memory_limit_reached = false;
  iso->hard_memory_limit_reached = false;
}

void v8cage_memory_limits_reached(v8cage_isolate* iso, int* soft, int* hard) {
  *soft = iso->soft_memory_limit_reached ? 1 : 0;
  *hard = iso->hard_memory_limit_reached ? 1 : 0;
}

void v8cage_heap_stats_get(v8cage_isolate* iso, v8cage_heap_stats* out) {
  *out = v8cage_heap_stats{};
  GuardedVoid([&] {
    v8::Locker locker(iso->isolate);
    v8::Isolate::Scope isolate_scope(iso->isolate);
    v8::HeapStatistics stats;
    iso->isolate->GetHeapStatistics(&stats);
    out->used = stats.used_heap_size();
    out->total = stats.total_heap_size();
    out->limit = stats.heap_size_limit();
    // V8's count: ArrayBuffers (ours, through CountingAllocator) and
    // WebAssembly memories (which bypass it).
    out->external = std::max(iso->allocator->in_use(), v8cage_compat::ExternalMemory(iso->isolate, stats));
  });
}

void v8cage_low_memory_notification(v8cage_isolate* iso) {
  GuardedVoid([&] {
    v8::Locker locker(iso->isolate);
    v8::Isolate::Scope isolate_scope(iso->isolate);
    iso->isolate->LowMemoryNotification();
  });
}

}  // extern "C"
