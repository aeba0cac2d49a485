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
    v8cage_compat::WriteLatin1(isolate, s, 0, static_cast<uint32_t>(n), latin1);
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
    written = v8cage_compat::WriteUtf8(isolate, s, dst, len);
    Truncate(at + 4 + written);
  }
  uint32_t n32 = static_cast<uint32_t>(written);
  std::memcpy(out_.data() + at, &n32, sizeof n32);
  return true;
}

bool Writer::Utf8FromLatin1(const uint8_t* units, size_t n, size_t cap) {
  size_t wide = static_cast<size_t>(std::count_if(units, units + n, [](uint8_t c) { return c >= 0x80; }));
  if (n + wide > cap) return false;
  U32(static_cast<uint32_t>(n + wide));
  uint8_t* dst = Grow(n + wide);
  if (wide == 0) {
    if (n != 0) std::memcpy(dst, units, n);
    return true;
  }
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = units[i];
    if (c < 0x80) {
      *dst++ = c;
    } else {
      *dst++ = static_cast<uint8_t>(0xC0 | (c >> 6));
      *dst++ = static_cast<uint8_t>(0x80 | (c & 0x3F));
    }
  }
  return true;
}

// Hand-written because C++ has no UTF-16 to UTF-8 conversion left
// (std::codecvt is deprecated) and V8 converts only whole strings; it must
// give exactly V8's bytes for REPLACE_INVALID_UTF8, which this does.
bool Writer::Utf8FromUtf16(const uint16_t* units, size_t n, size_t cap) {
  size_t at = size();
  U32(0);
  for (size_t i = 0; i < n; ++i) {
    uint32_t c = units[i];
    if (c >= 0xD800 && c <= 0xDBFF && i + 1 < n && units[i + 1] >= 0xDC00 && units[i + 1] <= 0xDFFF) {
      c = 0x10000 + ((c - 0xD800) << 10) + (units[i + 1] - 0xDC00);
      ++i;
    } else if (c >= 0xD800 && c <= 0xDFFF) {
      c = 0xFFFD;
    }
    if (c < 0x80) {
      Byte(static_cast<uint8_t>(c));
    } else if (c < 0x800) {
      Byte(static_cast<uint8_t>(0xC0 | (c >> 6)));
      Byte(static_cast<uint8_t>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      Byte(static_cast<uint8_t>(0xE0 | (c >> 12)));
      Byte(static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F)));
      Byte(static_cast<uint8_t>(0x80 | (c & 0x3F)));
    } else {
      Byte(static_cast<uint8_t>(0xF0 | (c >> 18)));
      Byte(static_cast<uint8_t>(0x80 | ((c >> 12) & 0x3F)));
      Byte(static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F)));
      Byte(static_cast<uint8_t>(0x80 | (c & 0x3F)));
    }
    if (size() - at - 4 > cap) {
      Truncate(at);
      return false;
    }
  }
  uint32_t written = static_cast<uint32_t>(size() - at - 4);
  std::memcpy(out_.data() + at, &written, sizeof written);
  return true;
}

}  // namespace v8cage_shim
