// Writer::Utf8: a bounded UTF-8 copy of a V8 string into the output.

#include "writer.h"

#include <algorithm>
#include <string>

namespace v8cage_shim {

bool Writer::Utf8(v8::Isolate* isolate, v8::Local<v8::String> s, size_t cap, bool truncate) {
  // Every V8 copy of a string first flattens it: a rope of 2^29 characters
  // costs a 1 GiB allocation and seconds, past the heap limit and the
  // timeout. Decide from Length() (UTF-16 units, each at least one UTF-8
  // byte) before any copy: too long for a value is a refusal; too long to
  // cut cheaply is a note of its length in place of the text.
  size_t length = static_cast<size_t>(s->Length());
  if (!truncate && length > cap) return false;
  if (truncate && length > cap * kMaxCutFactor) {
    std::string note = "(a string of " + std::to_string(length) + " characters, too long to copy)";
    Text(note.size() <= cap ? note : std::string());
    return true;
  }
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

}  // namespace v8cage_shim
