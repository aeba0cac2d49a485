// The one place where the V8 versions the shim builds against differ:
// Debian's 10.2 (the no-build fallback) and the current V8 that
// `cargo xtask v8 build` makes (15.2). Every other shim file calls these
// helpers instead of the version-specific API, so no `#if` on the V8 version
// appears anywhere else.
#ifndef V8CAGE_COMPAT_H
#define V8CAGE_COMPAT_H

#include <v8-version.h>
#include <v8.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

// V8 12.x replaced String::Write* (int lengths, NO_NULL_TERMINATION) with
// the *V2 forms, 14.x made v8::External tagged and dropped the isolate from
// ScriptOrigin; the two engines we build against sit on either side of all
// three, so one switch covers them.
#define V8CAGE_V8_CURRENT_API (V8_MAJOR_VERSION >= 14)

namespace v8cage_compat {

// What a v8::External of ours points to. With the V8 sandbox, the tag is
// checked when the pointer is read back, so a forged External cannot be
// taken for ours.
enum class ExternalKind : uint16_t {
  kIsolateState = 1,  // v8cage_isolate*
};

inline v8::Local<v8::External> NewExternal(v8::Isolate* isolate, void* value, ExternalKind kind) {
#if V8CAGE_V8_CURRENT_API
  return v8::External::New(isolate, value, static_cast<v8::ExternalPointerTypeTag>(kind));
#else
  (void)kind;
  return v8::External::New(isolate, value);
#endif
}

inline void* ExternalValue(v8::Local<v8::Value> data, ExternalKind kind) {
#if V8CAGE_V8_CURRENT_API
  return data.As<v8::External>()->Value(static_cast<v8::ExternalPointerTypeTag>(kind));
#else
  (void)kind;
  return data.As<v8::External>()->Value();
#endif
}

// Copies `length` Latin-1 characters from `offset`, no terminator.
inline void WriteLatin1(v8::Isolate* isolate, v8::Local<v8::String> s, uint32_t offset, uint32_t length, uint8_t* out) {
#if V8CAGE_V8_CURRENT_API
  s->WriteOneByteV2(isolate, offset, length, out);
#else
  s->WriteOneByte(isolate, out, static_cast<int>(offset), static_cast<int>(length), v8::String::NO_NULL_TERMINATION);
#endif
}

// Copies `length` UTF-16 code units from `offset`, no terminator.
inline void WriteUtf16(v8::Isolate* isolate, v8::Local<v8::String> s, uint32_t offset, uint32_t length, uint16_t* out) {
#if V8CAGE_V8_CURRENT_API
  s->WriteV2(isolate, offset, length, out);
#else
  s->Write(isolate, out, static_cast<int>(offset), static_cast<int>(length), v8::String::NO_NULL_TERMINATION);
#endif
}

// Writes at most `capacity` bytes of UTF-8 (lone surrogates replaced, no
// terminator, never a partial character); returns the bytes written.
inline size_t WriteUtf8(v8::Isolate* isolate, v8::Local<v8::String> s, char* out, size_t capacity) {
#if V8CAGE_V8_CURRENT_API
  return s->WriteUtf8V2(isolate, out, capacity, v8::String::WriteFlags::kReplaceInvalidUtf8);
#else
  return static_cast<size_t>(s->WriteUtf8(isolate, out, static_cast<int>(capacity), nullptr,
                                          v8::String::NO_NULL_TERMINATION | v8::String::REPLACE_INVALID_UTF8));
#endif
}

// An ArrayBuffer allocator that takes its memory from V8's default one:
// with the V8 sandbox on, backing stores must lie inside the sandbox, and
// only V8's allocator knows where that is (without it, malloc). Subclasses
// add their accounting around Inner().
class DelegatingArrayBufferAllocator : public v8::ArrayBuffer::Allocator {
 public:
  DelegatingArrayBufferAllocator() : inner_(v8::ArrayBuffer::Allocator::NewDefaultAllocator()) {}
#if V8CAGE_V8_CURRENT_API
  v8::PageAllocator* GetPageAllocator() override { return inner_->GetPageAllocator(); }
#endif

 protected:
  v8::ArrayBuffer::Allocator& Inner() { return *inner_; }

 private:
  std::unique_ptr<v8::ArrayBuffer::Allocator> inner_;
};

// A backing store of `length` bytes holding a copy of `data`, or null when
// memory is short (never V8's out-of-memory abort). The current V8 places
// it with the isolate's allocator (inside the V8 sandbox, which refuses
// outside memory, and counted against the heap limit); 10.2 has no
// failure mode there, so it takes malloc'd memory.
inline std::unique_ptr<v8::BackingStore> CopyToBackingStore(v8::Isolate* isolate, const void* data, size_t length) {
#if V8CAGE_V8_CURRENT_API
  std::unique_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      isolate, length, v8::BackingStoreInitializationMode::kUninitialized, v8::BackingStoreOnFailureMode::kReturnNull);
  if (store != nullptr && length != 0) std::memcpy(store->Data(), data, length);
  return store;
#else
  (void)isolate;
  void* copy = length == 0 ? nullptr : std::malloc(length);
  if (length != 0 && copy == nullptr) return nullptr;
  if (length != 0) std::memcpy(copy, data, length);
  return v8::ArrayBuffer::NewBackingStore(copy, length, [](void* d, size_t, void*) { std::free(d); }, nullptr);
#endif
}

// The largest heap limit V8 honours, 0 for no bound of its own: with
// pointer compression every heap of the process lives in one 4 GiB cage.
#ifdef V8_COMPRESS_POINTERS
constexpr size_t kMaxHeapLimit = size_t{4} << 30;
#else
constexpr size_t kMaxHeapLimit = 0;
#endif

// V8 flags every context needs on this V8, set before the embedder's (who
// may override them). 15.2's loop unrolling drops the stack check of a loop
// around a short inlined one (`for (;;) new Array(1000).fill(1)`): no
// timeout, terminate() or memory stop lands there, and under a heap limit it
// allocates into V8's out-of-memory abort (core/tests/limits.rs,
// known_limits.rs). 10.2 has no such flag.
#if V8CAGE_V8_CURRENT_API
constexpr const char* kEngineFlags = "--no-verify-snapshot-checksum --no-turboshaft-loop-unrolling";
#else
constexpr const char* kEngineFlags = "--no-verify-snapshot-checksum";
#endif

// Memory outside the JS heap that V8 knows of: ArrayBuffer backing stores
// and what V8's own objects report (WebAssembly memories among them). 10.2
// counts both in HeapStatistics::external_memory(); 15.2 puts only the
// backing stores there, and its external-memory total (the GC's, which
// holds both) is read through the adjustment call with no change.
inline size_t ExternalMemory(v8::Isolate* isolate, v8::HeapStatistics& stats) {
#if V8CAGE_V8_CURRENT_API
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
  int64_t reported = isolate->AdjustAmountOfExternalAllocatedMemory(0);
#pragma clang diagnostic pop
  return std::max(stats.external_memory(), static_cast<size_t>(std::max<int64_t>(reported, 0)));
#else
  static_cast<void>(isolate);
  return stats.external_memory();
#endif
}

// Whether V8's own sandbox is on and securely set up (its address space
// reserved); false for a V8 built without it, as Debian's 10.2 is.
inline bool SandboxEnabled() {
#ifdef V8_ENABLE_SANDBOX
  return v8::V8::IsSandboxConfiguredSecurely();
#else
  return false;
#endif
}

// A SnapshotCreator making its isolate with `params`. 10.2's creator
// makes it with V8's defaults (its own ArrayBuffer allocator, no heap
// limit): there the isolate's memory limit checked after each GC stands in.
constexpr bool kSnapshotCreatorTakesParams = V8CAGE_V8_CURRENT_API;
inline std::unique_ptr<v8::SnapshotCreator> NewSnapshotCreator(const v8::Isolate::CreateParams& params) {
#if V8CAGE_V8_CURRENT_API
  return std::make_unique<v8::SnapshotCreator>(params);
#else
  (void)params;
  return std::make_unique<v8::SnapshotCreator>();
#endif
}

inline v8::ScriptOrigin MakeOrigin(v8::Isolate* isolate, v8::Local<v8::Value> resource_name, bool is_module = false) {
#if V8CAGE_V8_CURRENT_API
  (void)isolate;
  return v8::ScriptOrigin(resource_name, 0, 0, false, -1, v8::Local<v8::Value>(), false, false, is_module);
#else
  return v8::ScriptOrigin(isolate, resource_name, 0, 0, false, -1, v8::Local<v8::Value>(), false, false, is_module);
#endif
}

}  // namespace v8cage_compat

#endif  // V8CAGE_COMPAT_H
