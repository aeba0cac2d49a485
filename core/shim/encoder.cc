// JS value -> wire bytes (results), bounded by max_result_bytes, max_depth,
// the thread's stack and stop requests.

#include "encoder.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "flatten.h"
#include "numbers.h"
#include "wire.h"

namespace v8cage_shim {

using namespace v8cage_wire;

namespace {

// Arrays at least this long read their numbers in runs (numbers.cc): a JS
// call costs about as much as reading this many elements one by one.
constexpr uint32_t kMinNumberRun = 32;
// Elements read one by one after a short run, before trying a run again.
constexpr uint32_t kElementStretch = 256;

class Encoder : public FlattenSink {
 public:
  Encoder(Session& session, Writer& w) : s_(session), w_(w), budget_(session.self()->limits.max_result_bytes) {}

  // After a failed Encode: the partial result never reaches the embedder,
  // so nobody could release the handles it retained.
  void ReleaseRetained() {
    for (uint32_t id : retained_) {
      s_.self()->handles.erase(id);
      s_.self()->lent_buffers.erase(id);
    }
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
      if (static_cast<size_t>(words) > kMaxBigIntWords) return Fail("BigInt larger than 2^20 bits");
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
    if (v->IsSymbol()) {
      v8::Local<v8::Value> description = v.As<v8::Symbol>()->Description(isolate);
      if (!description->IsString()) description = v8::String::Empty(isolate);
      return Handle(kHandleSymbol, v, description.As<v8::String>());
    }
    if (!v->IsObject()) return Fail("unsupported JavaScript value");

    v8::Local<v8::Object> obj = v.As<v8::Object>();
    if (!v->IsFunction()) {
      int kind = HandleKind(v);
      if (kind >= 0) return Handle(static_cast<uint8_t>(kind), v, obj->GetConstructorName());
    }
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
      std::shared_ptr<v8::BackingStore> store = v->IsArrayBuffer() ? v.As<v8::ArrayBuffer>()->GetBackingStore()
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
      w_.U32(Keep(obj));
      return true;
    }

    for (v8::Local<v8::Object> seen : path_) {
      if (seen->StrictEquals(obj)) return Fail("value contains a cycle");
    }
    path_.push_back(obj);
    bool ok = Container(obj, depth, ctx);
    path_.pop_back();
    return ok;
  }

  // FlattenSink: the flattener's ops, paid for and written exactly as
  // Encode would have, value by value.
  bool Flush(const double* ops, uint32_t count, v8::Local<v8::String> text) override {
    if (s_.stop_requested()) return false;
    size_t text_length = static_cast<size_t>(text->Length());
    // Strings that alone need more than the budget left: paid for (which
    // fails) but never copied.
    bool doomed = text_length > budget_;
    bool one_byte = text->IsOneByte();
    if (!doomed && text_length != 0) {
      int n = static_cast<int>(text_length);
      if (one_byte) {
        text_latin1_.resize(text_length);
        v8cage_compat::WriteLatin1(s_.isolate(), text, 0, static_cast<uint32_t>(n), text_latin1_.data());
      } else {
        text_utf16_.resize(text_length);
        v8cage_compat::WriteUtf16(s_.isolate(), text, 0, static_cast<uint32_t>(n), text_utf16_.data());
      }
    }
    w_.Reserve(std::min(size_t{5} * count, budget_));
    size_t at = 0;
    for (uint32_t i = 0; i < count;) {
      double op = ops[i++];
      if (op == kFlatUndefined || op == kFlatNull || op == kFlatTrue || op == kFlatFalse) {
        if (!Spend(1)) return false;
        w_.Byte(op == kFlatUndefined ? kUndefined : op == kFlatNull ? kNull : op == kFlatTrue ? kTrue : kFalse);
        continue;
      }
      if (i == count) return Fail("internal error: flattened value cut short");
      if (op == kFlatNumber) {
        // A run of numbers (most arrays of data) written in one piece.
        uint32_t run = 1;
        while (i + 2 * run < count && ops[i + 2 * run - 1] == kFlatNumber) ++run;
        if (!Spend(size_t{1 + 8} * run)) return false;
        uint8_t* at_out = w_.Grow(size_t{1 + 8} * run);
        for (uint32_t k = 0; k < run; ++k, at_out += 1 + 8) {
          at_out[0] = kNumber;
          std::memcpy(at_out + 1, &ops[i + 2 * k], 8);
        }
        i += 2 * run - 1;
        continue;
      }
      double operand = ops[i++];
      if (!(operand >= 0 && operand <= UINT32_MAX) || operand != static_cast<double>(static_cast<uint32_t>(operand))) {
        return Fail("internal error: bad flattened count");
      }
      uint32_t n = static_cast<uint32_t>(operand);
      if (op == kFlatString || op == kFlatKey) {
        if (n > text_length - at) return Fail("internal error: flattened text cut short");
        if (op == kFlatString) {
          if (!Spend(1)) return false;
          w_.Byte(kString);
        }
        if (!Spend(4)) return false;
        if (doomed) {
          if (!Spend(n)) return false;
        } else {
          size_t before = w_.size();
          bool fits = one_byte ? w_.Utf8FromLatin1(text_latin1_.data() + at, n, budget_)
                               : w_.Utf8FromUtf16(text_utf16_.data() + at, n, budget_);
          if (!fits || !Spend(w_.size() - before - 4)) return Fail("result exceeds max_result_bytes");
        }
        at += n;
      } else if (op == kFlatArray) {
        if (!Spend(1)) return false;
        if (!Spend(4) || static_cast<size_t>(n) > budget_) return Fail("array too large for max_result_bytes");
        w_.Byte(kArray);
        w_.U32(n);
      } else if (op == kFlatObject) {
        if (!Spend(1)) return false;
        if (!Spend(4) || static_cast<size_t>(n) > budget_ / 5) return Fail("object too large for max_result_bytes");
        w_.Byte(kObject);
        w_.U32(n);
      } else {
        return Fail("internal error: bad flattened op");
      }
    }
    if (doomed) return Fail("result exceeds max_result_bytes");
    if (at != text_length) return Fail("internal error: flattened text left over");
    return true;
  }
  FlatKind Place(v8::Local<v8::Value> value, uint32_t depth, const double* ops, uint32_t count,
                 v8::Local<v8::String> text) override {
    int kind = ContainerKind(value);
    if (kind >= 0) return static_cast<FlatKind>(kind);
    if (!Flush(ops, count, text)) return kFlatKindFailed;
    return Encode(value, depth) ? kFlatKindEncoded : kFlatKindFailed;
  }

  // An array the shim made: its elements encoded as values.
  bool Listing(v8::Local<v8::Array> array) {
    if (!Spend(1)) return false;
    return Array(array, 0);
  }

  const std::string& error() const { return error_; }

 private:
  bool Tag(uint8_t t) {
    w_.Byte(t);
    return true;
  }

  // A handle id for `v`, or 0 once the context holds kMaxRetainedHandles
  // (a result like `Array(1e6).fill(f)` must not pin a million handles).
  uint32_t Keep(v8::Local<v8::Value> v) {
    uint32_t id = Retain(s_.self(), v);
    if (id != 0) retained_.push_back(id);
    return id;
  }

  // The HANDLE kind `v` is passed as, or -1 when it is copied: with
  // V8CAGE_OPTION_OBJECT_HANDLES every object, else only those a copy
  // would misrepresent as a plain object.
  int HandleKind(v8::Local<v8::Value> v) {
    bool all = (s_.self()->limits.options & V8CAGE_OPTION_OBJECT_HANDLES) != 0;
    if (v->IsPromise()) return kHandlePromise;
    if (v->IsNativeError()) return kHandleError;
    if (v->IsMap()) return kHandleMap;
    if (v->IsSet()) return kHandleSet;
    if (v->IsRegExp()) return kHandleRegExp;
    if (v->IsWeakMap() || v->IsWeakSet() || v->IsMapIterator() || v->IsSetIterator() || v->IsGeneratorObject() ||
        v->IsModuleNamespaceObject()) {
      return kHandleObject;
    }
    if (!all) return -1;
    if (v->IsArray()) return kHandleArray;
    if ((v->IsArrayBuffer() || v->IsSharedArrayBuffer()) &&
        (s_.self()->limits.options & V8CAGE_OPTION_BUFFER_HANDLES) != 0) {
      return kHandleArrayBuffer;
    }
    // Other binary data is copied (bytes).
    if (v->IsDate() || v->IsArrayBufferView() || v->IsArrayBuffer() || v->IsSharedArrayBuffer()) return -1;
    return kHandleObject;
  }

  // A HANDLE; fails rather than hand out one that cannot be used.
  bool Handle(uint8_t kind, v8::Local<v8::Value> v, v8::Local<v8::String> label) {
    if (!Spend(1 + 4)) return false;
    w_.Byte(kHandle);
    w_.Byte(kind);
    if (!StringBody(label)) return false;
    uint32_t id = Keep(v);
    if (id == 0) return Fail("the context holds too many handles; release some first");
    w_.U32(id);
    if (kind == kHandleArrayBuffer) {
      std::shared_ptr<v8::BackingStore> store = v->IsArrayBuffer() ? v.As<v8::ArrayBuffer>()->GetBackingStore()
                                                                   : v.As<v8::SharedArrayBuffer>()->GetBackingStore();
      if (!Spend(16)) return false;
      uint64_t address = reinterpret_cast<uintptr_t>(store->Data());
      uint64_t length = store->ByteLength();
      w_.Raw(&address, sizeof address);
      w_.Raw(&length, sizeof length);
      s_.self()->lent_buffers[id] = std::move(store);
    }
    return true;
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
  // Which values the flattener reads itself: exactly those Encode would
  // read as an array or a plain object (-1: any other value).
  int ContainerKind(v8::Local<v8::Value> v) {
    if (!v->IsObject() || v->IsFunction() || HandleKind(v) >= 0) return -1;
    if (v->IsDate() || v->IsArrayBufferView() || v->IsArrayBuffer() || v->IsSharedArrayBuffer()) return -1;
    return v->IsArray() ? kFlatKindArray : kFlatKindObject;
  }
  // An array or plain object and all under it: by the flattener, or read
  // here call by call when it cannot be made.
  bool Container(v8::Local<v8::Object> obj, uint32_t depth, v8::Local<v8::Context> ctx) {
    // The flattener's op for `obj` pays again for the byte Encode paid.
    budget_ += 1;
    switch (Flatten(s_, *this, obj, depth, s_.self()->limits.max_depth, budget_)) {
      case kFlatDone: return true;
      case kFlatCycle: return Spend(1) && Fail("value contains a cycle");
      case kFlatTooDeep: return Fail("value nests deeper than the depth limit");
      case kFlatKeyNotString: return Fail("object key is not a string");
      case -1: return false;
      case -2: break;
      default:  // kFlatFailed: why is in error_, unless a stop was requested
        if (error_.empty() && !s_.stop_requested()) return Fail("internal error: the flattener failed");
        return false;
    }
    budget_ -= 1;
    return obj->IsArray() ? Array(obj.As<v8::Array>(), depth) : Object(obj, depth, ctx);
  }
  bool Array(v8::Local<v8::Array> array, uint32_t depth) {
    uint32_t n = array->Length();
    // Every element costs at least one byte: refuse huge (even sparse) arrays
    // before touching a single element.
    if (!Spend(4) || static_cast<size_t>(n) > budget_) return Fail("array too large for max_result_bytes");
    w_.Byte(kArray);
    w_.U32(n);
    w_.Reserve(std::min(static_cast<size_t>(n) * 9, budget_));
    // Elements within the depth limit may take the inline paths below.
    bool inline_numbers = depth + 1 <= s_.self()->limits.max_depth;
    if (inline_numbers && n >= kMinNumberRun) return ElementsByRuns(array, n, depth);
    return Elements(array, 0, n, depth, inline_numbers);
  }
  // Elements [from, to), each read by its own V8 call.
  bool Elements(v8::Local<v8::Array> array, uint32_t from, uint32_t to, uint32_t depth, bool inline_numbers) {
    // One handle scope per chunk, not per element: opening a scope costs as
    // much as reading a number.
    for (uint32_t chunk = from; chunk < to; chunk += kHandlesPerScope) {
      v8::HandleScope scope(s_.isolate());
      uint32_t chunk_end = to - chunk > kHandlesPerScope ? chunk + kHandlesPerScope : to;
      if (s_.stop_requested()) return false;
      for (uint32_t i = chunk; i < chunk_end; ++i) {
        v8::Local<v8::Value> item;
        if (!array->Get(s_.context(), i).ToLocal(&item)) return false;
        // Numbers inline: most arrays of data are arrays of numbers.
        if (inline_numbers && item->IsNumber()) {
          if (!Spend(1 + 8)) return false;
          w_.Byte(kNumber);
          w_.F64(item.As<v8::Number>()->Value());
          continue;
        }
        if (!Encode(item, depth + 1)) return false;
      }
    }
    return true;
  }
  // All elements of a long array: runs of numbers copied in bulk by JS
  // (numbers.cc, one call per run), anything else encoded as it comes.
  // After a short run the next stretch is read element by element, so an
  // array of objects costs a copier call per stretch, not per element.
  bool ElementsByRuns(v8::Local<v8::Array> array, uint32_t n, uint32_t depth) {
    uint32_t i = 0;
    while (i < n) {
      v8::HandleScope scope(s_.isolate());
      if (s_.stop_requested()) return false;
      uint32_t end = n - i > kNumberRunChunk ? i + kNumberRunChunk : n;
      NumberRun run;
      switch (ReadNumberRun(s_, array, i, end, &run)) {
        case kNumberRunRead: break;
        case kNumberRunFailed: return false;
        case kNumberRunUnavailable: return Elements(array, i, n, depth, true);
      }
      uint32_t count = run.stop - i;
      if (!Spend(size_t{1 + 8} * count)) return false;
      uint8_t* at = w_.Grow(size_t{1 + 8} * count);
      for (uint32_t k = 0; k < count; ++k, at += 1 + 8) {
        at[0] = kNumber;
        std::memcpy(at + 1, &run.numbers[k], 8);
      }
      i = run.stop;
      if (i == end) continue;
      // Element i was read already and is not a number.
      if (!Encode(run.other, depth + 1)) return false;
      ++i;
      if (count < kMinNumberRun) {
        uint32_t stretch_end = n - i > kElementStretch ? i + kElementStretch : n;
        if (!Elements(array, i, stretch_end, depth, true)) return false;
        i = stretch_end;
      }
    }
    return true;
  }
  bool Object(v8::Local<v8::Object> obj, uint32_t depth, v8::Local<v8::Context> ctx) {
    v8::Local<v8::Array> keys;
    if (!obj->GetOwnPropertyNames(ctx, static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS),
                                  v8::KeyConversionMode::kConvertToString)
             .ToLocal(&keys)) {
      return false;
    }
    uint32_t n = keys->Length();
    if (!Spend(4) || static_cast<size_t>(n) > budget_ / 5) return Fail("object too large for max_result_bytes");
    w_.Byte(kObject);
    w_.U32(n);
    // Scoped per chunk of properties, as arrays are: a property's value may
    // be a large subtree, but its own handles are scoped where it is encoded.
    for (uint32_t chunk = 0; chunk < n; chunk += kHandlesPerScope) {
      v8::HandleScope scope(s_.isolate());
      uint32_t chunk_end = n - chunk > kHandlesPerScope ? chunk + kHandlesPerScope : n;
      for (uint32_t i = chunk; i < chunk_end; ++i) {
        v8::Local<v8::Value> key;
        v8::Local<v8::Value> item;
        if (!keys->Get(ctx, i).ToLocal(&key)) return false;
        if (!key->IsString()) return Fail("object key is not a string");
        if (!StringBody(key.As<v8::String>())) return false;
        if (!obj->Get(ctx, key).ToLocal(&item)) return false;
        if (!Encode(item, depth + 1)) return false;
      }
    }
    return true;
  }

  Session& s_;
  Writer& w_;
  size_t budget_;
  std::vector<v8::Local<v8::Object>> path_;
  std::vector<uint32_t> retained_;
  std::string error_;
  // The flattener's text, copied out once per batch.
  std::vector<uint8_t> text_latin1_;
  std::vector<uint16_t> text_utf16_;
};

}  // namespace

EncodeResult Encode(Session& session, Writer& writer, v8::Local<v8::Value> value, bool listing) {
  Encoder encoder(session, writer);
  if (listing ? encoder.Listing(value.As<v8::Array>()) : encoder.Encode(value, 0)) return {true, {}};
  encoder.ReleaseRetained();
  return {false, encoder.error()};
}

}  // namespace v8cage_shim
