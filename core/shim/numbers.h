// Reading runs of numbers out of a JS array at JIT speed (numbers.cc).
#ifndef V8CAGE_NUMBERS_H
#define V8CAGE_NUMBERS_H

#include "internal.h"

namespace v8cage_shim {

// Elements per call of the copying function (its output buffer's size).
constexpr uint32_t kNumberRunChunk = 1024;

// What one call read: elements [start, stop) were numbers, now at
// `numbers[0 .. stop - start)`; if stop < end, element `stop` was read too
// and is `other` (not a number).
struct NumberRun {
  uint32_t stop = 0;
  const double* numbers = nullptr;
  v8::Local<v8::Value> other;
};
enum NumberRunStatus {
  kNumberRunRead,
  // A read threw or was stopped: pending in the caller's TryCatch.
  kNumberRunFailed,
  // Nothing was read (the copier could not be made): read element by element.
  kNumberRunUnavailable,
};
NumberRunStatus ReadNumberRun(Session& s, v8::Local<v8::Array> array, uint32_t start, uint32_t end, NumberRun* run);

}  // namespace v8cage_shim

#endif
