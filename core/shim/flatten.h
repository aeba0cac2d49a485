// Reading plain objects and arrays at JIT speed (flatten.cc).
#ifndef V8CAGE_FLATTEN_H
#define V8CAGE_FLATTEN_H

#include "internal.h"

namespace v8cage_shim {

// The flattener's output: ops in a Float64Array, each a code, most with one
// operand; the strings' text is one JS string, cut by the lengths (UTF-16
// units) in the ops. The codes are doubles because the ops are (C++20
// deprecates comparing a double with an enumerator).
constexpr double kFlatUndefined = 0;
constexpr double kFlatNull = 1;
constexpr double kFlatTrue = 2;
constexpr double kFlatFalse = 3;
constexpr double kFlatNumber = 4;  // the number
constexpr double kFlatString = 5;  // its length
constexpr double kFlatKey = 6;     // its length
constexpr double kFlatArray = 7;   // element count
constexpr double kFlatObject = 8;  // property count

// Where the flattener stopped (its return value).
enum FlatEnd {
  kFlatDone = 0,
  kFlatFailed = 1,  // the sink failed (its error says why)
  kFlatCycle = 2,
  kFlatTooDeep = 3,
  kFlatKeyNotString = 4,
};

// What the sink tells the flattener of a value it cannot place itself.
enum FlatKind {
  kFlatKindObject = 0,   // a plain object: the flattener reads its properties
  kFlatKindArray = 1,    // an array: the flattener reads its elements
  kFlatKindEncoded = 2,  // anything else: the sink took the ops so far and then the value
  kFlatKindFailed = 3,
};

// The encoder's side: takes the ops in order and places what the
// flattener does not read itself (functions, handles, dates, binary data,
// BigInts, symbols, long strings).
class FlattenSink {
 public:
  virtual ~FlattenSink() = default;
  // Ops [0, count) with their text.
  virtual bool Flush(const double* ops, uint32_t count, v8::Local<v8::String> text) = 0;
  // A container's kind, or (after flushing the ops so far) the value placed.
  virtual FlatKind Place(v8::Local<v8::Value> value, uint32_t depth, const double* ops, uint32_t count,
                         v8::Local<v8::String> text) = 0;
};

// Reads `root` (a plain object or array at `depth`) and everything under it
// into `sink`. Returns a FlatEnd, or -1 when a read threw or was stopped
// (pending in the caller's TryCatch), or -2 when the flattener could not be
// made (nothing was read).
int Flatten(Session& s, FlattenSink& sink, v8::Local<v8::Object> root, uint32_t depth, uint32_t max_depth,
            size_t budget);

// Keeps the context's own Object.keys, before any script can replace it.
bool RememberObjectKeys(v8cage_isolate* self, v8::Local<v8::Context> context);

}  // namespace v8cage_shim

#endif
