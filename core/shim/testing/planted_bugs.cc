// Deliberate bugs, one per class the sanitizer jobs must catch. Compiled only
// with the cargo feature `planted-bugs` (never in release builds); each is
// reached only through v8cage::testing::planted, whose tests the jobs run to prove
// they fail on a real report (see sanitizer-builds/README.md).
//
// Every input comes from the caller and every pointer goes through a
// volatile, so the optimiser cannot fold a bug away.

#include <v8.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

namespace {
void* volatile g_leak_sink;
std::int64_t g_racy_counter;  // deliberately not atomic
}  // namespace

extern "C" {

// Reads one byte past the end of a heap block of `size` bytes.
std::uint8_t v8cage_planted_heap_overflow(std::size_t size) {
  std::uint8_t* volatile block = new std::uint8_t[size]();
  std::uint8_t past_end = block[size];
  delete[] block;
  return past_end;
}

// Reads a heap block after freeing it.
std::int32_t v8cage_planted_use_after_free(std::int32_t value) {
  std::int32_t* volatile block = new std::int32_t[4]{value, value, value, value};
  delete[] block;
  return block[1];
}

// Allocates `size` bytes and forgets the only pointer to them.
void v8cage_planted_leak(std::size_t size) {
  g_leak_sink = std::malloc(size);
  std::memset(g_leak_sink, 0xAB, size);
  g_leak_sink = nullptr;
}

// Two threads increment one plain integer without synchronisation.
std::int64_t v8cage_planted_data_race(std::int64_t increments) {
  g_racy_counter = 0;
  auto bump = [increments] {
    for (std::int64_t i = 0; i < increments; ++i) {
      g_racy_counter = g_racy_counter + 1;
    }
  };
  std::thread first(bump);
  std::thread second(bump);
  first.join();
  second.join();
  return g_racy_counter;
}

// INT32_MAX + addend overflows for any addend > 0.
std::int32_t v8cage_planted_signed_overflow(std::int32_t addend) {
  volatile std::int32_t max = INT32_MAX;
  return max + addend;
}

// Loads an int32 from `offset` bytes into an 8-aligned buffer (odd = misaligned).
std::int32_t v8cage_planted_misaligned_load(std::size_t offset) {
  alignas(8) unsigned char buffer[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  unsigned char* volatile base = buffer;
  auto* value = reinterpret_cast<std::int32_t*>(base + offset);
  return *value;
}

// Branches on a heap int that was never written.
std::int32_t v8cage_planted_uninit_read(std::int32_t compare_with) {
  std::int32_t* volatile block = static_cast<std::int32_t*>(std::malloc(4 * sizeof(std::int32_t)));
  std::int32_t result = 2;
  if (block[1] == compare_with) {
    result = 1;
  }
  std::free(block);
  return result;
}

// Hands V8 `length` heap bytes that were never written, as UTF-8: V8's
// decoder branches on them. Only a V8 built with MSan sees that (the report
// is inside V8); an uninstrumented V8's reads are invisible to MSan. V8 must
// be initialised; a throwaway isolate of its own keeps the bug away from
// every context. Returns the string's length, or -1.
std::int32_t v8cage_planted_uninit_into_v8(std::int32_t length) {
  std::unique_ptr<v8::ArrayBuffer::Allocator> allocator(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = allocator.get();
  v8::Isolate* isolate = v8::Isolate::New(params);
  if (isolate == nullptr) return -1;
  std::int32_t result = -1;
  {
    v8::Locker locker(isolate);
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handle_scope(isolate);
    char* volatile bytes = static_cast<char*>(std::malloc(static_cast<std::size_t>(length)));
    v8::Local<v8::String> text;
    if (v8::String::NewFromUtf8(isolate, bytes, v8::NewStringType::kNormal, length).ToLocal(&text)) {
      result = text->Length();
    }
    std::free(bytes);
  }
  isolate->Dispose();
  return result;
}

}  // extern "C"
