// Writer: appends the wire format (wire.def) to an output buffer.
#ifndef V8CAGE_WRITER_H
#define V8CAGE_WRITER_H

#include <v8.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "compat.h"

namespace v8cage_shim {

// How much longer than its cap a string may be and still be cut (by
// flattening it: at most 16 * 64 KiB characters for an error text).
constexpr size_t kMaxCutFactor = 16;

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
  // Room for `n` more bytes (a hint: writes grow the buffer anyway),
  // growing geometrically so that many small hints stay linear.
  void Reserve(size_t n) {
    if (out_.capacity() - out_.size() < n) out_.reserve(std::max(out_.size() + n, 2 * out_.capacity()));
  }
  size_t size() const { return out_.size(); }

  // A length-prefixed UTF-8 copy of `s` of at most `cap` bytes; lone
  // surrogates become U+FFFD. When `s` needs more than `cap` bytes it is cut
  // at a character boundary if `truncate`, else nothing is written and the
  // result is false. A string over kMaxCutFactor * cap characters is not cut
  // but named by its length: cutting would flatten all of it first.
  bool Utf8(v8::Isolate* isolate, v8::Local<v8::String> s, size_t cap, bool truncate);
  // The same length-prefixed UTF-8 for code units already copied out of a
  // string (Latin-1 or UTF-16; lone surrogates become U+FFFD). Past `cap`
  // bytes nothing is written and the result is false.
  bool Utf8FromLatin1(const uint8_t* units, size_t n, size_t cap);
  bool Utf8FromUtf16(const uint16_t* units, size_t n, size_t cap);
  void Text(const std::string& s) {
    U32(static_cast<uint32_t>(s.size()));
    Raw(s.data(), s.size());
  }

 private:
  std::vector<uint8_t>& out_;
};

}  // namespace v8cage_shim

#endif
