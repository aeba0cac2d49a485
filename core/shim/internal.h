// What the shim's files share: the isolate's state, the limits, the
// `Guarded` wrapper of every entry point, and `Session`, which every
// evaluation holds. Internal to the shim; the C ABI is v8cage_shim.h.
#ifndef V8CAGE_INTERNAL_H
#define V8CAGE_INTERNAL_H

#include <v8.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "compat.h"
#include "v8cage_shim.h"

namespace v8cage_shim {

class Session;
class FlattenSink;

// Handles (functions, objects...) one context keeps for the embedder at most.
constexpr size_t kMaxRetainedHandles = 1 << 16;
// Modules one context may compile at most.
constexpr size_t kMaxModules = 1 << 16;
// Longest module name or specifier, in characters.
constexpr int kMaxModuleName = 1 << 16;
// Timers one context may have pending at most.
constexpr size_t kMaxTimers = 1 << 16;

// Longest error text (name, message, stack) copied out of V8.
constexpr size_t kMaxErrorText = size_t{64} * 1024;
// Stack kept free below V8's JS stack limit for V8's own C++ frames (error
// creation, GC) and for our converters; conversions stop before reaching it.
constexpr uintptr_t kStackHeadroom = uintptr_t{64} * 1024;
constexpr uintptr_t kConverterStackReserve = uintptr_t{16} * 1024;
// Array elements read per HandleScope while converting.
constexpr uint32_t kHandlesPerScope = 256;
// V8's own default JS stack budget (--stack-size, ~1 MB); never allow more.
constexpr uintptr_t kMaxJsStack = uintptr_t{984} * 1024;
// Room granted past the heap limit once it is hit, so the allocation in
// flight succeeds while termination unwinds the script. V8 aborts the process
// if that allocation still does not fit. In the embedder's process the room
// covers V8's largest single object (a FixedArray or a two-byte string, about
// 1 GiB); a contained isolate (V8CAGE_OPTION_CONTAINED) gets room that
// follows its limit (HeapLimitGrace in isolate.cc).
constexpr size_t kInProcessHeapLimitGrace = size_t{1280} << 20;
constexpr size_t kMinContainedHeapLimitGrace = size_t{16} << 20;
constexpr int kMaxHeapLimitGraces = 3;

// V8's default platform (isolate.cc). Never destroyed: isolates (and V8's
// worker threads) may outlive static destructors at process exit.
extern v8::Platform* g_platform;

inline uintptr_t CurrentStackPosition() { return reinterpret_cast<uintptr_t>(__builtin_frame_address(0)); }

// Lowest usable address of the calling thread's stack (session.cc).
uintptr_t ThreadStackLow();

// Drops everything the isolate keeps in V8's heap for us: handles, timers,
// the context, the helpers' functions (isolate.cc). Under the isolate's lock.
void ReleaseIsolateState(v8cage_isolate* iso);
// Disposes of the isolate (through its creator, if it has one).
void DisposeIsolate(v8cage_isolate* iso);

// Stops the running evaluation as out of memory (isolate.cc).
void StopForMemory(v8cage_isolate* self);

// A symbol of the loaded V8 library outside V8's API, or null (v8_library.cc).
void* V8LibrarySymbol(const char* name);

// Routes ICU's allocations through counters, if the linked V8's ICU can
// be found (icu_memory.cc); before V8 starts.
void CountIcuMemory();
// The ICU memory charged to `self`, in bytes.
size_t IcuBytes(v8cage_isolate* self);

// While alive, ICU memory allocated or freed on this thread is charged to
// `self` (one per Session; nested ones restore the outer).
class IcuCharge {
 public:
  explicit IcuCharge(v8cage_isolate* self);
  ~IcuCharge();
  IcuCharge(const IcuCharge&) = delete;
  IcuCharge& operator=(const IcuCharge&) = delete;
  IcuCharge(IcuCharge&&) = delete;
  IcuCharge& operator=(IcuCharge&&) = delete;

 private:
  v8cage_isolate* outer_;
};

// TerminateExecution / CancelTerminateExecution, keeping
// termination_requested (session.cc). The cancel does nothing if no request
// was made since the last one.
void RequestTermination(v8cage_isolate* self);
void CancelTermination(v8cage_isolate* self);

// Counts ArrayBuffer memory (outside the JS heap) so a heap limit also bounds
// it; allocation beyond the budget fails with a JS RangeError, not an abort.
class CountingAllocator final : public v8cage_compat::DelegatingArrayBufferAllocator {
 public:
  explicit CountingAllocator(size_t budget) : budget_(budget) {}
  void* Allocate(size_t length) override {
    if (!Reserve(length)) return nullptr;
    void* p = Inner().Allocate(length);
    if (p == nullptr) Release(length);
    return p;
  }
  void* AllocateUninitialized(size_t length) override {
    if (!Reserve(length)) return nullptr;
    void* p = Inner().AllocateUninitialized(length);
    if (p == nullptr) Release(length);
    return p;
  }
  void Free(void* data, size_t length) override {
    Inner().Free(data, length);
    Release(length);
  }
  size_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

 private:
  bool Reserve(size_t length) {
    size_t now = in_use_.fetch_add(length, std::memory_order_relaxed);
    if (budget_ != 0 && (now + length > budget_ || now + length < now)) {
      Release(length);
      return false;
    }
    return true;
  }
  void Release(size_t length) { in_use_.fetch_sub(length, std::memory_order_relaxed); }
  const size_t budget_;
  std::atomic<size_t> in_use_{0};
};

}  // namespace v8cage_shim

struct v8cage_isolate {
  v8::Isolate* isolate = nullptr;
  // For a V8CAGE_OPTION_SNAPSHOT_CREATOR isolate, its creator (which owns
  // the isolate) until the snapshot is taken (startup.cc).
  std::unique_ptr<v8::SnapshotCreator> creator;
  bool snapshot_taken = false;
  // The snapshot this isolate started from (limits.snapshot), as V8 reads it.
  v8::StartupData startup_data{nullptr, 0};
  // The thread of the latest evaluation (touched only under the V8 lock).
  std::thread::id last_thread;
  v8::Global<v8::Context> context;
  // The name scripts are compiled under, made once: V8's compilation cache
  // compares names, and one string object compares by identity.
  v8::Global<v8::String> script_name;
  // The number-run copier (numbers.cc), made on first use: the function,
  // its output Float64Array and that array's memory, and its one-element
  // box for the value that ended a run.
  v8::Global<v8::Function> number_copier;
  v8::Global<v8::Float64Array> number_copier_out;
  std::shared_ptr<v8::BackingStore> number_copier_data;
  v8::Global<v8::Array> number_copier_other;
  // The flattener (flatten.cc): Object.keys as the context was made, the
  // function and its way back into C++ (made on first use), one ops buffer
  // per nesting level, and the calls running now (innermost last).
  v8::Global<v8::Function> object_keys;
  v8::Global<v8::Function> flattener;
  v8::Global<v8::Function> flatten_visit;
  struct FlattenBuffer {
    v8::Global<v8::Float64Array> ops;
    std::shared_ptr<v8::BackingStore> data;
  };
  std::vector<FlattenBuffer> flatten_buffers;
  struct ActiveFlatten {
    v8cage_shim::FlattenSink* sink;
    const double* ops;
  };
  std::vector<ActiveFlatten> flatten_active;
  // Held between evaluations while the isolate is pinned to a thread (pin.cc).
  std::unique_ptr<v8::Locker> pin;
  // Functions and other objects in results, kept alive so the embedder can
  // use them (v8cage_call_function, v8cage_handle_op) until it releases
  // them (v8cage_release_functions).
  std::unordered_map<uint32_t, v8::Global<v8::Value>> handles;
  uint32_t last_handle_id = 0;
  // Memory of ArrayBuffer handles lent to the embedder (V8CAGE_OP_BUFFER),
  // kept allocated until the handle is released.
  std::unordered_map<uint32_t, std::shared_ptr<v8::BackingStore>> lent_buffers;
  // setTimeout's pending callbacks (timers.cc), in the order they fire:
  // by due time (steady-clock milliseconds), then by creation.
  struct Timer {
    uint32_t id = 0;
    v8::Global<v8::Function> callback;
    std::vector<v8::Global<v8::Value>> args;
  };
  using TimerKey = std::pair<double, uint64_t>;
  std::map<TimerKey, Timer> timers;
  std::unordered_map<uint32_t, TimerKey> timer_keys;
  uint32_t last_timer_id = 0;
  uint64_t timers_created = 0;
  // ES modules (modules.cc): every module compiled in this context by its
  // resolved name (the latest of that name), and the names by V8's
  // identity hash of the module (to learn an importing module's name).
  std::unordered_map<std::string, v8::Global<v8::Module>> modules;
  std::unordered_multimap<int, std::string> module_names;
  // The embedder's callback for host functions (host.cc).
  v8cage_host_call host_call = nullptr;
  void* host_data = nullptr;
  // The innermost running entry point's Session, for host callbacks.
  v8cage_shim::Session* session = nullptr;
  std::unique_ptr<v8cage_shim::CountingAllocator> allocator;
  v8cage_limits limits{};
  size_t initial_heap_limit = 0;  // as V8 reports it to the near-limit callback
  bool heap_limit_hit = false;    // only touched on the evaluating thread
  int heap_limit_graces = 0;      // grace extensions given in this evaluation
  bool heap_exhausted = false;    // live data stays over the limit: refuse work
  // External memory (ArrayBuffers, WebAssembly memories) passed heap_limit
  // in this evaluation; set by the GC callback on the evaluating thread.
  bool external_limit_hit = false;
  // ICU memory charged to this isolate (icu_memory.cc): allocated minus
  // freed on threads evaluating it; whether a check is queued; whether it
  // passed heap_limit in this evaluation (on the evaluating thread).
  std::atomic<int64_t> icu_bytes{0};
  std::atomic<bool> icu_check_pending{false};
  bool icu_limit_hit = false;
  // Limits checked after each GC (v8cage_set_memory_limits), below the heap
  // limit above: reaching the hard one stops the evaluation as out of
  // memory, the soft one is only recorded. 0: none. Any thread may set them.
  std::atomic<size_t> soft_memory_limit{0};
  std::atomic<size_t> hard_memory_limit{0};
  std::atomic<bool> soft_memory_limit_reached{false};
  std::atomic<bool> hard_memory_limit_reached{false};
  std::vector<uint8_t> out;

  // Guards `running` and writes of `stop_reason` so a stop request can never
  // land between the end of one evaluation and the start of the next.
  // `stop_reason` is atomic so converters can poll it cheaply without the lock.
  std::mutex stop_mutex;
  bool running = false;
  std::atomic<int> stop_reason{V8CAGE_STOP_NONE};
  // Whether a TerminateExecution may be in force: set by every request,
  // cleared by the cancel. Cancelling takes two locks inside V8 and most
  // windows end with nothing to cancel. Requests and cancels all run under
  // stop_mutex, except those of the evaluating thread itself.
  std::atomic<bool> termination_requested{false};
};

namespace v8cage_shim {

// Runs `body`; if it throws (e.g. std::bad_alloc), runs `fallback` instead,
// so no C++ exception ever crosses the C ABI.
template <typename F, typename G>
auto Guarded(F&& body, G&& fallback) noexcept -> decltype(body()) {
  try {
    return std::forward<F>(body)();
  } catch (...) {
    try {
      return std::forward<G>(fallback)();
    } catch (...) {
      return decltype(body()){};
    }
  }
}

// Whether `error` is a failed allocation. For Guarded's fallback, which runs
// inside the handler (std::current_exception()).
inline bool IsBadAlloc(const std::exception_ptr& error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const std::bad_alloc&) {
    return true;
  } catch (...) {
    return false;
  }
  return false;
}

// Guarded, for entry points that return nothing.
template <typename F>
void GuardedVoid(F&& body) noexcept {
  Guarded(
      [&]() -> int {
        std::forward<F>(body)();
        return 0;
      },
      [] { return 0; });
}

// Stop requests and the window they apply in (session.cc).
void RequestStop(v8cage_isolate* self, int reason);
// Both with stop_mutex held. Opening clears what a previous window left.
void OpenStopWindowLocked(v8cage_isolate* self);
void CloseStopWindowLocked(v8cage_isolate* self);

// Keeps `value` for the embedder; its handle id, or 0 once the context holds
// kMaxRetainedHandles (handles.cc).
uint32_t Retain(v8cage_isolate* self, v8::Local<v8::Value> value);

// Installs setTimeout/clearTimeout on the context's global (timers.cc).
bool InstallTimers(v8cage_isolate* self, v8::Local<v8::Context> context);
// Milliseconds until the next timer is due (0 if one is), or -1.
double NextTimerDelay(v8cage_isolate* self);

// V8's callback when the heap nears its limit (isolate.cc).
size_t NearHeapLimit(void* data, size_t current_heap_limit, size_t initial_heap_limit);

// Everything an entry point needs to use the isolate on this thread: the
// lock, scopes, the stack limit of *this* thread, and the running window that
// stop requests apply to.
class Session {
 public:
  explicit Session(v8cage_isolate* self);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Session(Session&&) = delete;
  Session& operator=(Session&&) = delete;

  // Promise jobs still queued when an evaluation ends must not run later,
  // charged to the next evaluation (session.cc says how they are dropped).
  void DiscardPendingJobs();
  // The job queue is known to be empty and nothing can run until the
  // session ends: the checkpoint ran to the end and the result is a
  // primitive, which converts without running JS. Skips the discard.
  void NoteNoJobsPending() { no_jobs_pending_ = true; }

  v8::Isolate* isolate() const { return self_->isolate; }
  // The constructor emplaces scopes_ and only the destructor resets it.
  // NOLINTNEXTLINE(bugprone-unchecked-optional-access)
  v8::Local<v8::Context> context() const { return scopes_->context; }
  v8cage_isolate* self() const { return self_; }
  uintptr_t converter_floor() const { return converter_floor_; }

  int stop_reason() const { return self_->stop_reason.load(std::memory_order_acquire); }
  bool stop_requested() { return stop_reason() != V8CAGE_STOP_NONE; }

  int StatusForStop() {
    switch (stop_reason()) {
      case V8CAGE_STOP_TIMEOUT: return V8CAGE_TIMEOUT;
      case V8CAGE_STOP_OUT_OF_MEMORY: return V8CAGE_OUT_OF_MEMORY;
      case V8CAGE_STOP_CPU_TIME: return V8CAGE_CPU_TIME;
      default: return V8CAGE_TERMINATED;
    }
  }

 private:
  struct Scopes {
    Scopes(v8::Isolate* isolate, const v8::Global<v8::Context>& global)
        : handles(isolate), context(global.Get(isolate)), context_scope(context) {}
    v8::HandleScope handles;
    v8::Local<v8::Context> context;
    v8::Context::Scope context_scope;
  };
  v8cage_isolate* self_;
  v8::Locker locker_;
  v8::Isolate::Scope isolate_scope_;
  IcuCharge icu_charge_;
  std::optional<Scopes> scopes_;
  uintptr_t converter_floor_ = 0;
  Session* outer_ = nullptr;
  bool no_jobs_pending_ = false;
};

// Runs V8's pending foreground tasks, microtasks and the due timers. False
// if a stop request ended it. A timer callback that throws is ignored, as
// an uncaught error in a browser's timer is.
bool RunDueWork(Session& s);

}  // namespace v8cage_shim

#endif
