// The only C++ in v8cage: a small C ABI over V8 (see v8cage_shim.h).
//
// Rules kept here: every Maybe/MaybeLocal is checked, every handle lives in a
// HandleScope, and no C++ exception crosses the C ABI (each entry point is
// wrapped in `Guarded`). Values cross as a flat byte encoding (see Tag below
// and core/src/value.rs) so one call converts a whole result.

#include "v8cage_shim.h"

#include <libplatform/libplatform.h>
#include <pthread.h>
#include <v8.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

// Wire tags, mirrored by core/src/value.rs.
enum Tag : uint8_t {
  kUndefined = 0,
  kNull = 1,
  kFalse = 2,
  kTrue = 3,
  kNumber = 4,    // f64
  kBigInt = 5,    // u8 sign, u32 word count, u64 words (least significant first)
  kString = 6,    // u32 byte length, UTF-8 bytes
  kArray = 7,     // u32 count, values
  kObject = 8,    // u32 count, (u32 key length, key bytes, value) pairs
  kDate = 9,      // f64 ms since epoch
  kBytes = 10,    // u32 byte length, bytes
  kFunction = 11, // u32 byte length, UTF-8 name, u32 handle id (0: none)
};

// Largest BigInt converted either way, in 64-bit words (2^20 bits); mirrored
// by MAX_BIGINT_DIGITS in src/value.rs.
constexpr int kMaxBigIntWords = (1 << 20) / 64;
// Function handles one context keeps for the embedder at most.
constexpr size_t kMaxRetainedFunctions = 1 << 16;

// Longest error text (name, message, stack) copied out of V8.
constexpr size_t kMaxErrorText = 64 * 1024;
// Stack kept free below V8's JS stack limit for V8's own C++ frames (error
// creation, GC) and for our converters; conversions stop before reaching it.
constexpr uintptr_t kStackHeadroom = 64 * 1024;
constexpr uintptr_t kConverterStackReserve = 16 * 1024;
// Array elements read per HandleScope while converting.
constexpr uint32_t kHandlesPerScope = 256;
// V8's own default JS stack budget (--stack-size, ~1 MB); never allow more.
constexpr uintptr_t kMaxJsStack = 984 * 1024;
// Room granted past the heap limit once it is hit, so the allocation in
// flight succeeds while termination unwinds the script. V8 aborts the process
// if that allocation still does not fit, and its largest single object (a
// FixedArray or a two-byte string) is about 1 GiB, hence the size.
constexpr size_t kHeapLimitGrace = size_t{1280} << 20;
constexpr int kMaxHeapLimitGraces = 3;

// Never destroyed: isolates (and V8's worker threads) may outlive static
// destructors at process exit. V8's default platform, which
// NotifyIsolateShutdown needs even when V8 runs on a wrapper of it.
v8::Platform* g_platform = nullptr;

uintptr_t CurrentStackPosition() {
  return reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
}

// Lowest usable address of the calling thread's stack, cached per thread
// (pthread_getattr_np reads /proc/self/maps on the main thread).
uintptr_t ThreadStackLow() {
  thread_local uintptr_t low = 0;
  if (low == 0) {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      if (pthread_attr_getstack(&attr, &addr, &size) != 0) addr = nullptr;
      pthread_attr_destroy(&attr);
    }
    // Unknown bounds: fall back to V8's default budget below this frame.
    low = addr != nullptr ? reinterpret_cast<uintptr_t>(addr)
                          : CurrentStackPosition() - kMaxJsStack - kStackHeadroom;
  }
  return low;
}

// Counts ArrayBuffer memory (outside the JS heap) so a heap limit also bounds
// it; allocation beyond the budget fails with a JS RangeError, not an abort.
class CountingAllocator final : public v8::ArrayBuffer::Allocator {
 public:
  explicit CountingAllocator(size_t budget) : budget_(budget) {}
  void* Allocate(size_t length) override {
    if (!Reserve(length)) return nullptr;
    void* p = calloc(length == 0 ? 1 : length, 1);
    if (p == nullptr) Release(length);
    return p;
  }
  void* AllocateUninitialized(size_t length) override {
    if (!Reserve(length)) return nullptr;
    void* p = malloc(length == 0 ? 1 : length);
    if (p == nullptr) Release(length);
    return p;
  }
  void Free(void* data, size_t length) override {
    free(data);
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

}  // namespace

struct v8cage_isolate {
  v8::Isolate* isolate = nullptr;
  v8::Global<v8::Context> context;
  // Functions in results, kept alive so the embedder can call them
  // (v8cage_call_function) until it releases them (v8cage_release_functions).
  std::unordered_map<uint32_t, v8::Global<v8::Object>> functions;
  uint32_t last_function_id = 0;
  std::unique_ptr<CountingAllocator> allocator;
  v8cage_limits limits{};
  size_t initial_heap_limit = 0;  // as V8 reports it to the near-limit callback
  bool heap_limit_hit = false;    // only touched on the evaluating thread
  int heap_limit_graces = 0;      // grace extensions given in this evaluation
  bool heap_exhausted = false;    // live data stays over the limit: refuse work
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
};

namespace {

// Runs `body`; if it throws (e.g. std::bad_alloc), runs `fallback` instead,
// so no C++ exception ever crosses the C ABI.
template <typename F, typename G>
auto Guarded(F&& body, G&& fallback) noexcept -> decltype(body()) {
  try {
    return body();
  } catch (...) {
    try {
      return fallback();
    } catch (...) {
      return decltype(body()){};
    }
  }
}

void RequestStop(v8cage_isolate* self, int reason) {
  std::lock_guard<std::mutex> lock(self->stop_mutex);
  if (!self->running || self->stop_reason != V8CAGE_STOP_NONE) return;
  self->stop_reason = reason;
  self->isolate->TerminateExecution();
}

// Both with stop_mutex held. Opening clears what a previous window left.
void OpenStopWindowLocked(v8cage_isolate* self) {
  self->isolate->CancelTerminateExecution();
  self->running = true;
  self->stop_reason = V8CAGE_STOP_NONE;
}

void CloseStopWindowLocked(v8cage_isolate* self) {
  self->running = false;
  self->stop_reason = V8CAGE_STOP_NONE;
  self->isolate->CancelTerminateExecution();
}

// After every GC: compare the live heap with the soft and hard limits.
void CheckMemoryLimits(v8::Isolate* isolate, v8::GCType, v8::GCCallbackFlags, void* data) {
  auto* self = static_cast<v8cage_isolate*>(data);
  size_t soft = self->soft_memory_limit.load(std::memory_order_relaxed);
  size_t hard = self->hard_memory_limit.load(std::memory_order_relaxed);
  if (soft == 0 && hard == 0) return;
  v8::HeapStatistics stats;
  isolate->GetHeapStatistics(&stats);
  size_t used = stats.used_heap_size();
  if (soft != 0 && used > soft) self->soft_memory_limit_reached = true;
  if (hard != 0 && used > hard) {
    self->hard_memory_limit_reached = true;
    std::lock_guard<std::mutex> lock(self->stop_mutex);
    if (self->running && self->stop_reason == V8CAGE_STOP_NONE) {
      self->stop_reason = V8CAGE_STOP_OUT_OF_MEMORY;
      isolate->TerminateExecution();
    }
  }
}

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
      self->isolate->TerminateExecution();
    }
  }
  // Grace room so the allocation in flight succeeds and termination can unwind;
  // the limit is restored after the evaluation (see Session::~Session).
  return current_heap_limit + kHeapLimitGrace;
}

// Everything an entry point needs to use the isolate on this thread: the
// lock, scopes, the stack limit of *this* thread, and the running window that
// stop requests apply to.
class Session {
 public:
  explicit Session(v8cage_isolate* self)
      : self_(self), locker_(self->isolate), isolate_scope_(self->isolate) {
    scopes_.emplace(self->isolate, self->context);
    uintptr_t here = CurrentStackPosition();
    uintptr_t limit = std::max(ThreadStackLow() + kStackHeadroom, here - std::min(here, kMaxJsStack));
    self->isolate->SetStackLimit(limit);
    // Converters recurse in C++ and may use the whole thread stack, not only
    // V8's JS budget; V8 calls they make still check V8's own limit.
    converter_floor_ = ThreadStackLow() + kStackHeadroom + kConverterStackReserve;
    self_->out.clear();
    if (self_->out.capacity() > (4u << 20)) std::vector<uint8_t>().swap(self_->out);
    // The caller may have opened the window already, before arming a
    // timeout: a stop requested since then is for this evaluation and stays.
    std::lock_guard<std::mutex> lock(self->stop_mutex);
    if (!self->running) {
      OpenStopWindowLocked(self);
    } else if (self->stop_reason != V8CAGE_STOP_NONE) {
      // Requested before this thread took the Locker, which may have restored
      // an archived thread state without the request: ask again.
      self->isolate->TerminateExecution();
    }
  }

  ~Session() {
    DiscardPendingJobs();
    // Release this evaluation's handles first, so the clean-up GC below can
    // free what they held (e.g. a huge exception message).
    scopes_.reset();
    {
      std::lock_guard<std::mutex> lock(self_->stop_mutex);
      CloseStopWindowLocked(self_);
    }
    if (self_->heap_limit_hit) {
      self_->heap_limit_hit = false;
      self_->heap_limit_graces = 0;
      // Drop the garbage the runaway allocation left, then put the limit
      // back (the callback raised it; V8 keeps it above 1.25x the live heap).
      self_->isolate->LowMemoryNotification();
      self_->isolate->RemoveNearHeapLimitCallback(NearHeapLimit, self_->initial_heap_limit);
      self_->isolate->AddNearHeapLimitCallback(NearHeapLimit, self_);
      // If the script kept what it allocated (e.g. in a global), the context
      // stays over its limit: refuse further work rather than let the limit
      // ratchet up with every evaluation.
      v8::HeapStatistics stats;
      self_->isolate->GetHeapStatistics(&stats);
      if (stats.used_heap_size() > self_->initial_heap_limit) self_->heap_exhausted = true;
    }
  }

  // Promise jobs still queued when an evaluation ends (it was stopped or
  // threw before the checkpoint, or a getter queued them during conversion)
  // must not run later, charged to the next evaluation: a timed-out script
  // could otherwise leave endless work behind. V8 empties the whole queue
  // when termination interrupts it (MicrotaskQueue::RunMicrotasks), so run a
  // checkpoint with termination requested; with an empty queue it returns at
  // once. The request is cancelled below, before the session ends.
  void DiscardPendingJobs() {
    self_->isolate->TerminateExecution();
    self_->isolate->PerformMicrotaskCheckpoint();
  }

  v8::Isolate* isolate() const { return self_->isolate; }
  v8::Local<v8::Context> context() const { return scopes_->context; }
  v8cage_isolate* self() const { return self_; }
  uintptr_t converter_floor() const { return converter_floor_; }

  int stop_reason() const { return self_->stop_reason.load(std::memory_order_acquire); }
  bool stop_requested() { return stop_reason() != V8CAGE_STOP_NONE; }

  int StatusForStop() {
    switch (stop_reason()) {
      case V8CAGE_STOP_TIMEOUT: return V8CAGE_TIMEOUT;
      case V8CAGE_STOP_OUT_OF_MEMORY: return V8CAGE_OUT_OF_MEMORY;
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
  std::optional<Scopes> scopes_;
  uintptr_t converter_floor_ = 0;
};

// ---- writing the output buffer -------------------------------------------

class Writer {
 public:
  explicit Writer(std::vector<uint8_t>& out) : out_(out) {}
  void Byte(uint8_t b) { out_.push_back(b); }
  void U32(uint32_t v) { Raw(&v, sizeof v); }
  void F64(double v) { Raw(&v, sizeof v); }
  void Raw(const void* p, size_t n) {
    const auto* bytes = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), bytes, bytes + n);
  }
  // Appends `n` bytes and returns where they start, for in-place copies.
  uint8_t* Grow(size_t n) {
    size_t at = out_.size();
    out_.resize(at + n);
    return out_.data() + at;
  }
  void Truncate(size_t size) { out_.resize(size); }
  size_t size() const { return out_.size(); }

  // A length-prefixed UTF-8 copy of `s` of at most `cap` bytes; lone
  // surrogates become U+FFFD. When `s` needs more than `cap` bytes it is cut
  // at a character boundary if `truncate`, else nothing is written and the
  // result is false.
  bool Utf8(v8::Isolate* isolate, v8::Local<v8::String> s, size_t cap, bool truncate) {
    size_t at = size();
    U32(0);
    size_t written = 0;
    if (!truncate && s->IsOneByte() && static_cast<size_t>(s->Length()) <= cap) {
      // Fast path for Latin-1 strings (most keys and text): one copy, then
      // widen bytes >= 0x80 to two UTF-8 bytes, back to front, in place.
      size_t n = static_cast<size_t>(s->Length());
      uint8_t* latin1 = Grow(n);
      s->WriteOneByte(isolate, latin1, 0, static_cast<int>(n), v8::String::NO_NULL_TERMINATION);
      size_t wide = static_cast<size_t>(std::count_if(latin1, latin1 + n, [](uint8_t c) { return c >= 0x80; }));
      if (n + wide > cap) {
        Truncate(at);
        return false;
      }
      if (wide != 0) {
        out_.resize(at + 4 + n + wide);
        uint8_t* base = out_.data() + at + 4;
        for (size_t src = n, dst = n + wide; src > 0;) {
          uint8_t c = base[--src];
          if (c < 0x80) {
            base[--dst] = c;
          } else {
            base[--dst] = static_cast<uint8_t>(0x80 | (c & 0x3F));
            base[--dst] = static_cast<uint8_t>(0xC0 | (c >> 6));
          }
        }
      }
      written = n + wide;
    } else {
      size_t len = static_cast<size_t>(s->Utf8Length(isolate));
      if (len > cap) {
        if (!truncate) {
          Truncate(at);
          return false;
        }
        len = cap;
      }
      char* dst = reinterpret_cast<char*>(Grow(len));
      written = static_cast<size_t>(s->WriteUtf8(isolate, dst, static_cast<int>(len), nullptr,
                                                 v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8));
      Truncate(at + 4 + written);
    }
    uint32_t n32 = static_cast<uint32_t>(written);
    std::memcpy(out_.data() + at, &n32, sizeof n32);
    return true;
  }
  void Text(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }

 private:
  std::vector<uint8_t>& out_;
};

// ---- JS value -> bytes, bounded --------------------------------------------

class Encoder {
 public:
  Encoder(Session& session, Writer& w)
      : s_(session), w_(w), budget_(session.self()->limits.max_result_bytes) {}

  // After a failed Encode: the partial result never reaches the embedder,
  // so nobody could release the functions it retained.
  void ReleaseRetained() {
    for (uint32_t id : retained_) s_.self()->functions.erase(id);
    retained_.clear();
  }

  // False on failure: either `error()` explains a conversion limit, or a JS
  // exception / termination is pending in the caller's TryCatch.
  bool Encode(v8::Local<v8::Value> v, uint32_t depth) {
    if (s_.stop_requested()) return false;
    if (depth > s_.self()->limits.max_depth) return Fail("value nests deeper than the depth limit");
    if (CurrentStackPosition() < s_.converter_floor()) return Fail("value nests too deeply for this thread's stack");
    if (!Spend(1)) return false;
    v8::Isolate* isolate = s_.isolate();
    v8::Local<v8::Context> ctx = s_.context();
    // Most common first; IsUndefined/IsNull/IsString are inline checks.
    if (v->IsNumber()) {
      if (!Spend(8)) return false;
      w_.Byte(kNumber);
      w_.F64(v.As<v8::Number>()->Value());
      return true;
    }
    if (v->IsString()) return String(kString, v.As<v8::String>());
    if (v->IsUndefined()) return Tag(kUndefined);
    if (v->IsNull()) return Tag(kNull);
    if (v->IsTrue()) return Tag(kTrue);
    if (v->IsFalse()) return Tag(kFalse);
    if (v->IsBigInt()) {
      v8::Local<v8::BigInt> big = v.As<v8::BigInt>();
      int words = big->WordCount();
      // Value::BigInt is decimal text, and that conversion grows faster than
      // linearly (2^20 bits: ~90 ms; V8's largest, 2^30 bits: hours, outside
      // any timeout). Found by the eval fuzzer (`2n ** 6961207n`: 10 s).
      if (words > kMaxBigIntWords) return Fail("BigInt larger than 2^20 bits");
      if (!Spend(5 + 8 * static_cast<size_t>(words))) return false;
      std::vector<uint64_t> buf(static_cast<size_t>(words));
      int sign = 0;
      big->ToWordsArray(&sign, &words, buf.data());
      w_.Byte(kBigInt);
      w_.Byte(sign ? 1 : 0);
      w_.U32(static_cast<uint32_t>(words));
      w_.Raw(buf.data(), 8 * static_cast<size_t>(words));
      return true;
    }
    if (v->IsSymbol()) return Fail("a Symbol has no v8cage value");
    if (!v->IsObject()) return Fail("unsupported JavaScript value");

    v8::Local<v8::Object> obj = v.As<v8::Object>();
    if (v->IsDate()) {
      if (!Spend(8)) return false;
      w_.Byte(kDate);
      w_.F64(v.As<v8::Date>()->ValueOf());
      return true;
    }
    if (v->IsArrayBufferView()) {
      v8::Local<v8::ArrayBufferView> view = v.As<v8::ArrayBufferView>();
      size_t n = view->ByteLength();
      if (!SpendBytes(n)) return false;
      w_.Byte(kBytes);
      w_.U32(static_cast<uint32_t>(n));
      size_t copied = view->CopyContents(w_.Grow(n), n);
      if (copied != n) return Fail("typed array changed size during conversion");
      return true;
    }
    if (v->IsArrayBuffer() || v->IsSharedArrayBuffer()) {
      std::shared_ptr<v8::BackingStore> store =
          v->IsArrayBuffer() ? v.As<v8::ArrayBuffer>()->GetBackingStore()
                             : v.As<v8::SharedArrayBuffer>()->GetBackingStore();
      size_t n = store->ByteLength();
      if (!SpendBytes(n)) return false;
      w_.Byte(kBytes);
      w_.U32(static_cast<uint32_t>(n));
      if (n != 0) std::memcpy(w_.Grow(n), store->Data(), n);
      return true;
    }
    if (v->IsFunction()) {
      // A callable Proxy is not a JSFunction: it has no name to ask for.
      v8::Local<v8::Value> name =
          v->IsProxy() ? v8::String::Empty(isolate).As<v8::Value>() : v.As<v8::Function>()->GetDebugName();
      if (!name->IsString()) name = v8::String::Empty(isolate);
      if (!Spend(4) || !String(kFunction, name.As<v8::String>())) return false;
      w_.U32(RetainFunction(obj));
      return true;
    }

    for (v8::Local<v8::Object> seen : path_) {
      if (seen->StrictEquals(obj)) return Fail("value contains a cycle");
    }
    path_.push_back(obj);
    bool ok = v->IsArray() ? Array(v.As<v8::Array>(), depth) : Object(obj, depth, ctx);
    path_.pop_back();
    return ok;
  }

  const std::string& error() const { return error_; }

 private:
  bool Tag(uint8_t t) {
    w_.Byte(t);
    return true;
  }

  // A handle id for `fn`, or 0 once the context holds kMaxRetainedFunctions
  // (a result like `Array(1e6).fill(f)` must not pin a million handles).
  uint32_t RetainFunction(v8::Local<v8::Object> fn) {
    v8cage_isolate* self = s_.self();
    if (self->functions.size() >= kMaxRetainedFunctions) return 0;
    do {
      ++self->last_function_id;
    } while (self->last_function_id == 0 || self->functions.count(self->last_function_id) != 0);
    self->functions.emplace(self->last_function_id, v8::Global<v8::Object>(self->isolate, fn));
    retained_.push_back(self->last_function_id);
    return self->last_function_id;
  }
  bool Fail(const std::string& why) {
    if (error_.empty()) error_ = why;
    return false;
  }
  bool Spend(size_t n) {
    if (n > budget_) return Fail("result exceeds max_result_bytes");
    budget_ -= n;
    return true;
  }
  bool SpendBytes(size_t n) {
    if (n > UINT32_MAX) return Fail("binary data over 4 GiB");
    return Spend(4 + n);
  }
  bool String(uint8_t tag, v8::Local<v8::String> s) {
    w_.Byte(tag);
    return StringBody(s);
  }
  // Length-prefixed UTF-8, paid for from the budget (the tag byte already was).
  bool StringBody(v8::Local<v8::String> s) {
    if (!Spend(4)) return false;
    size_t before = w_.size();
    if (!w_.Utf8(s_.isolate(), s, budget_, false)) return Fail("result exceeds max_result_bytes");
    return Spend(w_.size() - before - 4);
  }
  bool Array(v8::Local<v8::Array> array, uint32_t depth) {
    uint32_t n = array->Length();
    // Every element costs at least one byte: refuse huge (even sparse) arrays
    // before touching a single element.
    if (!Spend(4) || static_cast<size_t>(n) > budget_) return Fail("array too large for max_result_bytes");
    w_.Byte(kArray);
    w_.U32(n);
    // One handle scope per chunk, not per element: opening a scope costs as
    // much as reading a number.
    for (uint32_t chunk = 0; chunk < n; chunk += kHandlesPerScope) {
      v8::HandleScope scope(s_.isolate());
      uint32_t chunk_end = n - chunk > kHandlesPerScope ? chunk + kHandlesPerScope : n;
      for (uint32_t i = chunk; i < chunk_end; ++i) {
        v8::Local<v8::Value> item;
        if (!array->Get(s_.context(), i).ToLocal(&item)) return false;
        if (!Encode(item, depth + 1)) return false;
      }
    }
    return true;
  }
  bool Object(v8::Local<v8::Object> obj, uint32_t depth, v8::Local<v8::Context> ctx) {
    v8::Local<v8::Array> keys;
    if (!obj->GetOwnPropertyNames(ctx,
                                  static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS),
                                  v8::KeyConversionMode::kConvertToString)
             .ToLocal(&keys)) {
      return false;
    }
    uint32_t n = keys->Length();
    if (!Spend(4) || static_cast<size_t>(n) > budget_ / 5) return Fail("object too large for max_result_bytes");
    w_.Byte(kObject);
    w_.U32(n);
    for (uint32_t i = 0; i < n; ++i) {
      // Scoped per property: a property's value may be a large subtree.
      v8::HandleScope scope(s_.isolate());
      v8::Local<v8::Value> key;
      v8::Local<v8::Value> item;
      if (!keys->Get(ctx, i).ToLocal(&key)) return false;
      if (!key->IsString()) return Fail("object key is not a string");
      if (!StringBody(key.As<v8::String>())) return false;
      if (!obj->Get(ctx, key).ToLocal(&item)) return false;
      if (!Encode(item, depth + 1)) return false;
    }
    return true;
  }

  Session& s_;
  Writer& w_;
  size_t budget_;
  std::vector<v8::Local<v8::Object>> path_;
  std::vector<uint32_t> retained_;
  std::string error_;
};

// ---- bytes -> JS values (call arguments) ----------------------------------

class Decoder {
 public:
  Decoder(Session& session, const uint8_t* data, size_t len)
      : s_(session), p_(data), end_(data + len) {}

  bool Decode(v8::Local<v8::Value>* out, uint32_t depth) {
    if (depth > s_.self()->limits.max_depth) return Fail("argument nests deeper than the depth limit");
    if (CurrentStackPosition() < s_.converter_floor()) return Fail("argument nests too deeply for this thread's stack");
    v8::Isolate* isolate = s_.isolate();
    v8::Local<v8::Context> ctx = s_.context();
    uint8_t tag = 0;
    if (!ReadByte(&tag)) return false;
    switch (tag) {
      case kUndefined: *out = v8::Undefined(isolate); return true;
      case kNull: *out = v8::Null(isolate); return true;
      case kFalse: *out = v8::False(isolate); return true;
      case kTrue: *out = v8::True(isolate); return true;
      case kNumber: {
        double d = 0;
        if (!ReadRaw(&d, sizeof d)) return false;
        *out = v8::Number::New(isolate, d);
        return true;
      }
      case kDate: {
        double d = 0;
        if (!ReadRaw(&d, sizeof d)) return false;
        v8::Local<v8::Value> date;
        if (!v8::Date::New(ctx, d).ToLocal(&date)) return false;
        *out = date;
        return true;
      }
      case kBigInt: {
        uint8_t sign = 0;
        uint32_t words = 0;
        if (!ReadByte(&sign) || !ReadU32(&words)) return false;
        if (static_cast<size_t>(end_ - p_) / 8 < words) return Fail("truncated BigInt");
        if (words > (1u << 24)) return Fail("BigInt too large");
        std::vector<uint64_t> buf(words);
        if (!ReadRaw(buf.data(), 8 * static_cast<size_t>(words))) return false;
        v8::Local<v8::BigInt> big;
        if (!v8::BigInt::NewFromWords(ctx, sign, static_cast<int>(words), buf.data()).ToLocal(&big)) return false;
        *out = big;
        return true;
      }
      case kString: return ReadString(out);
      case kBytes: {
        uint32_t n = 0;
        if (!ReadU32(&n) || static_cast<size_t>(end_ - p_) < n) return Fail("truncated bytes");
        // Our own malloc: V8's ArrayBuffer::New aborts the process when it
        // cannot allocate; this way a failure is an error.
        void* data = n == 0 ? nullptr : malloc(n);
        if (n != 0 && data == nullptr) return Fail("out of memory for binary argument");
        if (n != 0) std::memcpy(data, p_, n);
        p_ += n;
        std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
            data, n, [](void* d, size_t, void*) { free(d); }, nullptr);
        v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, store);
        *out = v8::Uint8Array::New(buffer, 0, n);
        return true;
      }
      case kArray: {
        uint32_t n = 0;
        if (!ReadU32(&n) || static_cast<size_t>(end_ - p_) < n) return Fail("truncated array");
        std::vector<v8::Local<v8::Value>> items(n);
        for (uint32_t i = 0; i < n; ++i) {
          if (!Decode(&items[i], depth + 1)) return false;
        }
        *out = v8::Array::New(isolate, items.data(), items.size());
        return true;
      }
      case kObject: {
        uint32_t n = 0;
        if (!ReadU32(&n) || static_cast<size_t>(end_ - p_) / 5 < n) return Fail("truncated object");
        v8::Local<v8::Object> obj = v8::Object::New(isolate);
        for (uint32_t i = 0; i < n; ++i) {
          v8::Local<v8::Value> key;
          v8::Local<v8::Value> item;
          if (!ReadString(&key) || !Decode(&item, depth + 1)) return false;
          // CreateDataProperty defines an own property without running setters
          // (also for "__proto__"), which is what a plain data object means.
          if (obj->CreateDataProperty(ctx, key.As<v8::Name>(), item).IsNothing()) return false;
        }
        *out = obj;
        return true;
      }
      default: return Fail("unknown value tag");
    }
  }

  // The whole input as an argument list: an encoded array, nothing after it.
  bool Arguments(std::vector<v8::Local<v8::Value>>* argv) {
    uint8_t tag = 0;
    uint32_t argc = 0;
    if (!ReadByte(&tag) || tag != kArray) return Fail("arguments must be an encoded array");
    if (!ReadU32(&argc) || static_cast<size_t>(end_ - p_) < argc) return Fail("truncated argument list");
    argv->resize(argc);
    for (uint32_t i = 0; i < argc; ++i) {
      if (!Decode(&(*argv)[i], 1)) return false;
    }
    if (p_ != end_) return Fail("trailing bytes after arguments");
    return true;
  }
  const std::string& error() const { return error_; }

 private:
  bool Fail(const std::string& why) {
    if (error_.empty()) error_ = why;
    return false;
  }
  bool ReadRaw(void* dst, size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return Fail("truncated input");
    if (n != 0) std::memcpy(dst, p_, n);
    p_ += n;
    return true;
  }
  bool ReadByte(uint8_t* b) { return ReadRaw(b, 1); }
  bool ReadU32(uint32_t* v) { return ReadRaw(v, sizeof *v); }
  bool ReadString(v8::Local<v8::Value>* out) {
    uint32_t n = 0;
    if (!ReadU32(&n) || static_cast<size_t>(end_ - p_) < n) return Fail("truncated string");
    if (n > static_cast<uint32_t>(v8::String::kMaxLength)) return Fail("string longer than V8 allows");
    v8::Local<v8::String> s;
    if (!v8::String::NewFromUtf8(s_.isolate(), reinterpret_cast<const char*>(p_), v8::NewStringType::kNormal,
                                 static_cast<int>(n))
             .ToLocal(&s)) {
      return Fail("string longer than V8 allows");
    }
    p_ += n;
    *out = s;
    return true;
  }

  Session& s_;
  const uint8_t* p_;
  const uint8_t* end_;
  std::string error_;
};

// ---- results ----------------------------------------------------------------

int Finish(int status, v8cage_isolate* self, v8cage_output* out) {
  out->data = self->out.data();
  out->len = self->out.size();
  return status;
}

int FailWith(int status, const std::string& message, v8cage_isolate* self, v8cage_output* out) {
  self->out.clear();
  Writer(self->out).Text(message);
  return Finish(status, self, out);
}

// Writes `v` as text for an error report without running user code where V8
// allows (ToDetailString never calls toString/valueOf).
void WriteDetail(Session& s, Writer& w, v8::Local<v8::Value> v) {
  v8::Local<v8::String> text;
  if (v->IsString()) {
    text = v.As<v8::String>();
  } else if (!v->ToDetailString(s.context()).ToLocal(&text)) {
    text = v8::String::Empty(s.isolate());
  }
  w.Utf8(s.isolate(), text, kMaxErrorText, true);
}

// A property read for error reports: getters may throw (swallowed) or loop
// (the watchdog is still armed).
v8::Local<v8::Value> ReadForReport(Session& s, v8::Local<v8::Object> obj, const char* key) {
  // After a stop no more JS may run: the watchdog fires once, and V8 forgets
  // a termination once it has unwound to us, so the next accessor (or
  // Error.prepareStackTrace) would run unbounded. Found by api_ops.
  if (s.stop_requested()) return v8::Undefined(s.isolate());
  v8::TryCatch inner(s.isolate());
  v8::Local<v8::String> name;
  v8::Local<v8::Value> v;
  if (!v8::String::NewFromUtf8(s.isolate(), key).ToLocal(&name) || !obj->Get(s.context(), name).ToLocal(&v)) {
    return v8::Undefined(s.isolate());
  }
  return v;
}

// Line and column (1-based; columns in UTF-16 units, as V8 counts them) of
// `position` in `source`, clamped to its end.
std::pair<int, int> LineAndColumnAt(v8::Isolate* isolate, v8::Local<v8::String> source, int position) {
  position = std::clamp(position, 0, source->Length());
  std::vector<uint16_t> text(static_cast<size_t>(position));
  source->Write(isolate, text.data(), 0, position, v8::String::NO_NULL_TERMINATION);
  int line = 1;
  int column = 1;
  for (int i = 0; i < position; ++i) {
    uint16_t c = text[i];
    bool crlf = c == '\r' && i + 1 < position && text[i + 1] == '\n';
    if (!crlf && (c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029)) {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

// Reports whatever stopped compile/run/convert: a stop request, a syntax
// error or an exception. `source` is the script being compiled, if any.
int ReportFailure(Session& s, v8::TryCatch& tc, bool compiling, v8cage_output* out,
                  v8::Local<v8::String> source = {}) {
  v8cage_isolate* self = s.self();
  if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), self, out);
  if (!tc.HasCaught()) return FailWith(V8CAGE_INTERNAL, "V8 reported failure without an exception", self, out);
  self->out.clear();
  Writer w(self->out);
  v8::Local<v8::Value> exception = tc.Exception();
  v8::Local<v8::Message> message = tc.Message();
  if (compiling && exception->IsNativeError() &&
      ReadForReport(s, exception.As<v8::Object>(), "name")
          ->StrictEquals(v8::String::NewFromUtf8Literal(s.isolate(), "SyntaxError"))) {
    v8::Local<v8::Value> text = ReadForReport(s, exception.As<v8::Object>(), "message");
    WriteDetail(s, w, text);
    int line = message.IsEmpty() ? 0 : message->GetLineNumber(s.context()).FromMaybe(0);
    int column = message.IsEmpty() ? 0 : message->GetStartColumn(s.context()).FromMaybe(-1) + 1;
    if (line <= 0 && !source.IsEmpty()) {
      // V8 places some end-of-input errors (an unterminated template
      // literal ending in a backslash) past the end, with no line. Found by AFL.
      int position = message.IsEmpty() ? source->Length() : message->GetStartPosition();
      std::tie(line, column) = LineAndColumnAt(s.isolate(), source, position);
    }
    w.U32(static_cast<uint32_t>(std::max(line, 0)));
    w.U32(static_cast<uint32_t>(std::max(column, 0)));
    if (s.stop_requested()) return Finish(s.StatusForStop(), self, out);
    return Finish(V8CAGE_SYNTAX, self, out);
  }
  v8::Local<v8::Value> name = v8::String::Empty(s.isolate());
  v8::Local<v8::Value> text = exception;
  v8::Local<v8::Value> stack = v8::Undefined(s.isolate());
  if (exception->IsObject()) {
    v8::Local<v8::Object> obj = exception.As<v8::Object>();
    name = ReadForReport(s, obj, "name");
    text = ReadForReport(s, obj, "message");
    stack = ReadForReport(s, obj, "stack");
    if (!name->IsString()) name = v8::String::Empty(s.isolate());
    if (text->IsUndefined()) text = exception;
  }
  if (s.stop_requested()) return Finish(s.StatusForStop(), self, out);
  WriteDetail(s, w, name);
  WriteDetail(s, w, text);
  if (stack->IsString()) {
    w.Byte(kString);
    WriteDetail(s, w, stack);
  } else {
    w.Byte(kUndefined);
  }
  return Finish(V8CAGE_EXCEPTION, self, out);
}

// Runs pending promise jobs, then encodes `result`.
int CompleteWithValue(Session& s, v8::TryCatch& tc, v8::Local<v8::Value> result, v8cage_output* out) {
  v8cage_isolate* self = s.self();
  s.isolate()->PerformMicrotaskCheckpoint();
  if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), self, out);
  Writer w(self->out);
  Encoder encoder(s, w);
  if (encoder.Encode(result, 0)) return Finish(V8CAGE_OK, self, out);
  encoder.ReleaseRetained();
  if (s.stop_requested() || tc.HasCaught()) {
    // A getter or proxy trap threw, or the watchdog fired, mid-conversion.
    if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), self, out);
    v8::Local<v8::String> detail;
    if (!tc.Exception()->ToDetailString(s.context()).ToLocal(&detail)) detail = v8::String::Empty(s.isolate());
    self->out.clear();
    Writer report(self->out);
    WriteDetail(s, report,
                v8::String::Concat(s.isolate(), v8::String::NewFromUtf8Literal(s.isolate(), "reading the result threw: "),
                                   detail));
    return Finish(V8CAGE_CONVERSION, self, out);
  }
  return FailWith(V8CAGE_CONVERSION, encoder.error(), self, out);
}

}  // namespace

#ifdef V8CAGE_KERNEL_PLACED_PAGES
// kernel_placed_pages.cc (libFuzzer + ASan builds only).
v8::Platform* V8cageWrapPlatformWithKernelPlacedPages(v8::Platform* inner);
#endif

extern "C" {

int v8cage_engine_init(const char* flags, size_t flags_len) {
  return Guarded(
      [&]() -> int {
        if (flags != nullptr && flags_len != 0) {
          std::string owned(flags, flags_len);
          v8::V8::SetFlagsFromString(owned.c_str(), owned.size());
        }
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

v8cage_isolate* v8cage_isolate_new(const v8cage_limits* limits) {
  return Guarded(
      [&]() -> v8cage_isolate* {
        auto self = std::make_unique<v8cage_isolate>();
        self->limits = *limits;
        self->allocator = std::make_unique<CountingAllocator>(limits->heap_limit);
        v8::Isolate::CreateParams params;
        params.array_buffer_allocator = self->allocator.get();
        if (limits->heap_limit != 0) params.constraints.ConfigureDefaultsFromHeapSize(0, limits->heap_limit);
        v8::Isolate* isolate = v8::Isolate::New(params);
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
          v8::Local<v8::Context> context = v8::Context::New(isolate);
          if (!context.IsEmpty()) {
            self->context.Reset(isolate, context);
            created = true;
          }
        }
        if (!created) {
          v8::platform::NotifyIsolateShutdown(g_platform, isolate);
          isolate->Dispose();
          return nullptr;
        }
        return self.release();
      },
      [] { return nullptr; });
}

void v8cage_isolate_free(v8cage_isolate* iso) {
  if (iso == nullptr) return;
  Guarded(
      [&]() -> int {
        {
          v8::Locker locker(iso->isolate);
          v8::Isolate::Scope isolate_scope(iso->isolate);
          iso->functions.clear();
          iso->context.Reset();
        }
        // The platform keeps a task runner (and its queued tasks) per isolate
        // until told the isolate is gone; without this every freed context
        // leaked them (found by the api_ops fuzzer's out-of-memory report).
        v8::platform::NotifyIsolateShutdown(g_platform, iso->isolate);
        iso->isolate->Dispose();
        delete iso;
        return 0;
      },
      [] { return 0; });
}

void v8cage_open_stop_window(v8cage_isolate* iso) {
  Guarded(
      [&]() -> int {
        std::lock_guard<std::mutex> lock(iso->stop_mutex);
        OpenStopWindowLocked(iso);
        return 0;
      },
      [] { return 0; });
}

void v8cage_close_stop_window(v8cage_isolate* iso) {
  Guarded(
      [&]() -> int {
        std::lock_guard<std::mutex> lock(iso->stop_mutex);
        CloseStopWindowLocked(iso);
        return 0;
      },
      [] { return 0; });
}

void v8cage_request_stop(v8cage_isolate* iso, int reason) {
  Guarded(
      [&]() -> int {
        RequestStop(iso, reason);
        return 0;
      },
      [] { return 0; });
}

int v8cage_eval(v8cage_isolate* iso, const char* src, size_t len, v8cage_output* out) {
  return Guarded(
      [&]() -> int {
        if (iso->heap_exhausted) return FailWith(V8CAGE_OUT_OF_MEMORY, "", iso, out);
        Session s(iso);
        v8::TryCatch tc(s.isolate());
        if (len > static_cast<size_t>(v8::String::kMaxLength)) {
          return FailWith(V8CAGE_INVALID, "source is longer than V8's maximum string length", iso, out);
        }
        v8::Local<v8::String> source;
        if (!v8::String::NewFromUtf8(s.isolate(), src, v8::NewStringType::kNormal, static_cast<int>(len))
                 .ToLocal(&source)) {
          if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), iso, out);
          return FailWith(V8CAGE_INVALID, "source cannot be made into a V8 string", iso, out);
        }
        v8::ScriptOrigin origin(s.isolate(), v8::String::NewFromUtf8Literal(s.isolate(), "<eval>"));
        v8::Local<v8::Script> script;
        if (!v8::Script::Compile(s.context(), source, &origin).ToLocal(&script)) {
          return ReportFailure(s, tc, /*compiling=*/true, out, source);
        }
        v8::Local<v8::Value> result;
        if (!script->Run(s.context()).ToLocal(&result)) return ReportFailure(s, tc, false, out);
        return CompleteWithValue(s, tc, result, out);
      },
      [&] { return FailWith(V8CAGE_INTERNAL, "internal error (C++ exception) in the shim", iso, out); });
}

int v8cage_call(v8cage_isolate* iso, const char* name, size_t name_len, const uint8_t* args, size_t args_len,
                v8cage_output* out) {
  return Guarded(
      [&]() -> int {
        if (iso->heap_exhausted) return FailWith(V8CAGE_OUT_OF_MEMORY, "", iso, out);
        Session s(iso);
        v8::TryCatch tc(s.isolate());
        v8::Local<v8::Context> ctx = s.context();
        // Resolve a dotted path from the global object; `this` is the holder.
        v8::Local<v8::Value> holder = ctx->Global();
        v8::Local<v8::Value> target = holder;
        std::string path(name, name_len);
        size_t start = 0;
        while (true) {
          size_t dot = path.find('.', start);
          std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
          if (part.empty()) return FailWith(V8CAGE_INVALID, "empty name in call path '" + path + "'", iso, out);
          if (!target->IsObject()) {
            return FailWith(V8CAGE_INVALID, "'" + path.substr(0, start - 1) + "' is not an object", iso, out);
          }
          v8::Local<v8::String> key;
          if (!v8::String::NewFromUtf8(s.isolate(), part.data(), v8::NewStringType::kNormal,
                                       static_cast<int>(part.size()))
                   .ToLocal(&key)) {
            return FailWith(V8CAGE_INVALID, "call path is too long", iso, out);
          }
          holder = target;
          if (!target.As<v8::Object>()->Get(ctx, key).ToLocal(&target)) return ReportFailure(s, tc, false, out);
          if (dot == std::string::npos) break;
          start = dot + 1;
        }
        if (!target->IsFunction()) return FailWith(V8CAGE_INVALID, "'" + path + "' is not a function", iso, out);

        Decoder decoder(s, args, args_len);
        std::vector<v8::Local<v8::Value>> argv;
        if (!decoder.Arguments(&argv)) {
          if (s.stop_requested() || tc.HasCaught()) return ReportFailure(s, tc, false, out);
          return FailWith(V8CAGE_INVALID, decoder.error(), iso, out);
        }
        v8::Local<v8::Value> result;
        if (!target.As<v8::Function>()
                 ->Call(ctx, holder, static_cast<int>(argv.size()), argv.data())
                 .ToLocal(&result)) {
          return ReportFailure(s, tc, false, out);
        }
        return CompleteWithValue(s, tc, result, out);
      },
      [&] { return FailWith(V8CAGE_INTERNAL, "internal error (C++ exception) in the shim", iso, out); });
}

int v8cage_call_function(v8cage_isolate* iso, uint32_t function_id, const uint8_t* args, size_t args_len,
                         v8cage_output* out) {
  return Guarded(
      [&]() -> int {
        if (iso->heap_exhausted) return FailWith(V8CAGE_OUT_OF_MEMORY, "", iso, out);
        Session s(iso);
        v8::TryCatch tc(s.isolate());
        auto found = iso->functions.find(function_id);
        if (found == iso->functions.end()) {
          return FailWith(V8CAGE_INVALID, "the function was released", iso, out);
        }
        v8::Local<v8::Object> target = found->second.Get(s.isolate());
        Decoder decoder(s, args, args_len);
        std::vector<v8::Local<v8::Value>> argv;
        if (!decoder.Arguments(&argv)) {
          if (s.stop_requested() || tc.HasCaught()) return ReportFailure(s, tc, false, out);
          return FailWith(V8CAGE_INVALID, decoder.error(), iso, out);
        }
        v8::Local<v8::Value> result;
        // CallAsFunction: the handle may be a callable Proxy, not a v8::Function.
        if (!target->CallAsFunction(s.context(), v8::Undefined(s.isolate()), static_cast<int>(argv.size()), argv.data())
                 .ToLocal(&result)) {
          return ReportFailure(s, tc, false, out);
        }
        return CompleteWithValue(s, tc, result, out);
      },
      [&] { return FailWith(V8CAGE_INTERNAL, "internal error (C++ exception) in the shim", iso, out); });
}

void v8cage_release_functions(v8cage_isolate* iso, const uint32_t* ids, size_t count) {
  Guarded(
      [&]() -> int {
        v8::Locker locker(iso->isolate);
        v8::Isolate::Scope isolate_scope(iso->isolate);
        for (size_t i = 0; i < count; ++i) iso->functions.erase(ids[i]);
        return 0;
      },
      [] { return 0; });
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
  Guarded(
      [&]() -> int {
        v8::Locker locker(iso->isolate);
        v8::Isolate::Scope isolate_scope(iso->isolate);
        v8::HeapStatistics stats;
        iso->isolate->GetHeapStatistics(&stats);
        out->used = stats.used_heap_size();
        out->total = stats.total_heap_size();
        out->limit = stats.heap_size_limit();
        out->external = iso->allocator->in_use();
        return 0;
      },
      [] { return 0; });
}

void v8cage_low_memory_notification(v8cage_isolate* iso) {
  Guarded(
      [&]() -> int {
        v8::Locker locker(iso->isolate);
        v8::Isolate::Scope isolate_scope(iso->isolate);
        iso->isolate->LowMemoryNotification();
        return 0;
      },
      [] { return 0; });
}

uint64_t v8cage_bench_raw_eval(v8cage_isolate* iso, const char* src, size_t len, uint64_t iterations) {
  return Guarded(
      [&]() -> uint64_t {
        v8::Locker locker(iso->isolate);
        v8::Isolate::Scope isolate_scope(iso->isolate);
        v8::HandleScope outer(iso->isolate);
        v8::Local<v8::Context> ctx = iso->context.Get(iso->isolate);
        v8::Context::Scope context_scope(ctx);
        uint64_t ok = 0;
        for (uint64_t i = 0; i < iterations; ++i) {
          v8::HandleScope scope(iso->isolate);
          v8::Local<v8::String> source;
          v8::Local<v8::Script> script;
          v8::Local<v8::Value> result;
          if (v8::String::NewFromUtf8(iso->isolate, src, v8::NewStringType::kNormal, static_cast<int>(len))
                  .ToLocal(&source) &&
              v8::Script::Compile(ctx, source).ToLocal(&script) && script->Run(ctx).ToLocal(&result)) {
            ++ok;
          }
        }
        return ok;
      },
      [] { return 0; });
}

}  // extern "C"
