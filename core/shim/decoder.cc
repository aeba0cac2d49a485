// Wire bytes -> JS values, for call arguments: the input is untrusted, so
// every length is checked against what is left before it is used.

#include "decoder.h"

#include <cstring>

#include "wire.h"

namespace v8cage_shim {

using namespace v8cage_wire;

namespace {

class Decoder {
 public:
  Decoder(Session& session, const uint8_t* data, size_t len) : s_(session), p_(data), end_(data + len) {}

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
        std::shared_ptr<v8::BackingStore> store = v8cage_compat::CopyToBackingStore(isolate, p_, n);
        if (store == nullptr) return Fail("out of memory for binary argument");
        p_ += n;
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
      case kFunction:
      case kHandle: {
        // A handle the context handed out: the value it keeps.
        uint8_t kind = 0;
        v8::Local<v8::Value> label;
        uint32_t id = 0;
        if ((tag == kHandle && !ReadByte(&kind)) || !ReadString(&label) || !ReadU32(&id)) return false;
        auto found = s_.self()->handles.find(id);
        if (found == s_.self()->handles.end()) return Fail("an argument's handle was released");
        *out = found->second.Get(isolate);
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

}  // namespace

bool DecodeArguments(Session& session, const uint8_t* data, size_t len, std::vector<v8::Local<v8::Value>>* argv,
                     std::string* error) {
  Decoder decoder(session, data, len);
  if (decoder.Arguments(argv)) return true;
  *error = decoder.error();
  return false;
}

}  // namespace v8cage_shim
