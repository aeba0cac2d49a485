// Ending an evaluation: what goes into the output buffer, per status.
#ifndef V8CAGE_REPORT_H
#define V8CAGE_REPORT_H

#include <string>

#include "internal.h"

namespace v8cage_shim {

// A rejected promise's reason, reported as if it had been thrown (marked
// handled: the embedder was told).
int ReportRejection(Session& s, v8::Local<v8::Promise> promise, v8cage_output* out);

// Points `out` at the output buffer and returns `status`.
int Finish(int status, v8cage_isolate* self, v8cage_output* out);
// An output of one message string.
int FailWith(int status, const std::string& message, v8cage_isolate* self, v8cage_output* out);
// Reports whatever stopped compile/run/convert: a stop request, a syntax
// error or an exception. `source` is the script being compiled, if any.
int ReportFailure(Session& s, v8::TryCatch& tc, bool compiling, v8cage_output* out, v8::Local<v8::String> source = {});
// Reports `exception` as thrown (V8CAGE_EXCEPTION), located by `message`
// (may be empty).
int ReportException(Session& s, v8::Local<v8::Value> exception, v8::Local<v8::Message> message, v8cage_output* out);
// Runs pending promise jobs, then encodes `result`.
// `listing`: see Encode.
int CompleteWithValue(Session& s, v8::TryCatch& tc, v8::Local<v8::Value> result, v8cage_output* out,
                      bool listing = false);

}  // namespace v8cage_shim

#endif
