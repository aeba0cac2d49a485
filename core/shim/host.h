// Host functions: JavaScript functions that call the embedder (host.cc).
#ifndef V8CAGE_HOST_H
#define V8CAGE_HOST_H

#include <string>
#include <vector>

#include "internal.h"

namespace v8cage_shim {

enum class ErrorKind { kError, kTypeError, kRangeError };

// Throws a JavaScript error of `kind` with `text` (cut to kMaxErrorText).
void ThrowError(v8::Isolate* isolate, const std::string& text, ErrorKind kind);

// A function that calls the embedder's host callback `callback_id`.
v8::MaybeLocal<v8::Function> NewHostFunction(Session& s, uint32_t callback_id);

// Calls the embedder's host callback `callback_id` with `args`: its value,
// or empty with an Error pending (its message, or why `what` - "host
// function", "module loader" - could not be called) or a stop requested.
v8::MaybeLocal<v8::Value> CallEmbedder(Session& s, uint32_t callback_id, std::vector<v8::Local<v8::Value>>& args,
                                       const char* what);

}  // namespace v8cage_shim

#endif
