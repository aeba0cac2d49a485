// How an evaluation ends in the output buffer: a value, a syntax error, an
// exception, a stop, or a conversion failure (the layouts v8cage_shim.h lists).

#include "report.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "encoder.h"
#include "wire.h"
#include "writer.h"

namespace v8cage_shim {

using namespace v8cage_wire;

int Finish(int status, v8cage_isolate* self, v8cage_output* out) {
  out->data = self->out.data();
  out->len = self->out.size();
  return status;
}

int FailWith(int status, const std::string& message, v8cage_isolate* self, v8cage_output* out) {
  self->out.clear();
  Writer(self->out).Text(message);
  return Finish(status, self, out);
}

namespace {

// Writes `v` as text for an error report without running user code where V8
// allows (ToDetailString never calls toString/valueOf).
void WriteDetail(Session& s, Writer& w, v8::Local<v8::Value> v) {
  v8::Local<v8::String> text;
  if (v->IsString()) {
    text = v.As<v8::String>();
  } else if (!v->ToDetailString(s.context()).ToLocal(&text)) {
    text = v8::String::Empty(s.isolate());
  }
  w.Utf8(s.isolate(), text, kMaxErrorText, true);
}

// A property read for error reports: getters may throw (swallowed) or loop
// (the watchdog is still armed).
v8::Local<v8::Value> ReadForReport(Session& s, v8::Local<v8::Object> obj, const char* key) {
  // After a stop no more JS may run: the watchdog fires once, and V8 forgets
  // a termination once it has unwound to us, so the next accessor (or
  // Error.prepareStackTrace) would run unbounded. Found by api_ops.
  if (s.stop_requested()) return v8::Undefined(s.isolate());
  v8::TryCatch inner(s.isolate());
  v8::Local<v8::String> name;
  v8::Local<v8::Value> v;
  if (!v8::String::NewFromUtf8(s.isolate(), key).ToLocal(&name) || !obj->Get(s.context(), name).ToLocal(&v)) {
    return v8::Undefined(s.isolate());
  }
  return v;
}

// Line and column (1-based; columns in UTF-16 units, as V8 counts them) of
// `position` in `source`, clamped to its end.
std::pair<int, int> LineAndColumnAt(v8::Isolate* isolate, v8::Local<v8::String> source, int position) {
  position = std::clamp(position, 0, source->Length());
  std::vector<uint16_t> text(static_cast<size_t>(position));
  v8cage_compat::WriteUtf16(isolate, source, 0, static_cast<uint32_t>(position), text.data());
  int line = 1;
  int column = 1;
  for (int i = 0; i < position; ++i) {
    uint16_t c = text[i];
    bool crlf = c == '\r' && i + 1 < position && text[i + 1] == '\n';
    if (!crlf && (c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029)) {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return {line, column};
}

}  // namespace

int ReportException(Session& s, v8::Local<v8::Value> exception, v8::Local<v8::Message> message, v8cage_output* out) {
  v8cage_isolate* self = s.self();
  self->out.clear();
  Writer w(self->out);
  v8::Local<v8::Value> name = v8::String::Empty(s.isolate());
  v8::Local<v8::Value> text = exception;
  v8::Local<v8::Value> stack = v8::Undefined(s.isolate());
  if (exception->IsObject()) {
    v8::Local<v8::Object> obj = exception.As<v8::Object>();
    name = ReadForReport(s, obj, "name");
    text = ReadForReport(s, obj, "message");
    stack = ReadForReport(s, obj, "stack");
    if (!name->IsString()) name = v8::String::Empty(s.isolate());
    if (text->IsUndefined()) text = exception;
  }
  if (s.stop_requested()) return Finish(s.StatusForStop(), self, out);
  WriteDetail(s, w, name);
  WriteDetail(s, w, text);
  if (stack->IsString()) {
    w.Byte(kString);
    WriteDetail(s, w, stack);
  } else {
    w.Byte(kUndefined);
  }
  // Where it was thrown: line, start column (0-based), that source line
  // and the script's name, as V8's message has them (unknown: 0, "").
  int line = 0;
  int column = 0;
  v8::Local<v8::Value> source_line = v8::String::Empty(s.isolate());
  v8::Local<v8::Value> resource = v8::String::Empty(s.isolate());
  if (!message.IsEmpty()) {
    line = message->GetLineNumber(s.context()).FromMaybe(0);
    column = message->GetStartColumn(s.context()).FromMaybe(0);
    v8::Local<v8::String> found;
    if (message->GetSourceLine(s.context()).ToLocal(&found)) source_line = found;
    v8::Local<v8::Value> name_of_script = message->GetScriptResourceName();
    if (name_of_script->IsString()) resource = name_of_script;
  }
  w.U32(static_cast<uint32_t>(std::max(line, 0)));
  w.U32(static_cast<uint32_t>(std::max(column, 0)));
  WriteDetail(s, w, source_line);
  WriteDetail(s, w, resource);
  return Finish(V8CAGE_EXCEPTION, self, out);
}

// Reports whatever stopped compile/run/convert: a stop request, a syntax
// error or an exception. `source` is the script being compiled, if any.
int ReportFailure(Session& s, v8::TryCatch& tc, bool compiling, v8cage_output* out, v8::Local<v8::String> source) {
  v8cage_isolate* self = s.self();
  if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), self, out);
  if (!tc.HasCaught()) return FailWith(V8CAGE_INTERNAL, "V8 reported failure without an exception", self, out);
  v8::Local<v8::Value> exception = tc.Exception();
  v8::Local<v8::Message> message = tc.Message();
  if (compiling && exception->IsNativeError() &&
      ReadForReport(s, exception.As<v8::Object>(), "name")
          ->StrictEquals(v8::String::NewFromUtf8Literal(s.isolate(), "SyntaxError"))) {
    self->out.clear();
    Writer w(self->out);
    v8::Local<v8::Value> text = ReadForReport(s, exception.As<v8::Object>(), "message");
    WriteDetail(s, w, text);
    int line = message.IsEmpty() ? 0 : message->GetLineNumber(s.context()).FromMaybe(0);
    int column = message.IsEmpty() ? 0 : message->GetStartColumn(s.context()).FromMaybe(-1) + 1;
    if (line <= 0 && !source.IsEmpty()) {
      // V8 places some end-of-input errors (an unterminated template
      // literal ending in a backslash) past the end, with no line. Found by AFL.
      int position = message.IsEmpty() ? source->Length() : message->GetStartPosition();
      std::tie(line, column) = LineAndColumnAt(s.isolate(), source, position);
    }
    w.U32(static_cast<uint32_t>(std::max(line, 0)));
    w.U32(static_cast<uint32_t>(std::max(column, 0)));
    if (s.stop_requested()) return Finish(s.StatusForStop(), self, out);
    return Finish(V8CAGE_SYNTAX, self, out);
  }
  return ReportException(s, exception, message, out);
}

// Runs pending promise jobs, then encodes `result`.
int ReportRejection(Session& s, v8::Local<v8::Promise> promise, v8cage_output* out) {
  // The embedder is told: not an unhandled rejection any more.
  promise->MarkAsHandled();
  v8::Local<v8::Value> reason = promise->Result();
  return ReportException(s, reason, v8::Exception::CreateMessage(s.isolate(), reason), out);
}

int CompleteWithValue(Session& s, v8::TryCatch& tc, v8::Local<v8::Value> result, v8cage_output* out, bool listing) {
  v8cage_isolate* self = s.self();
  s.isolate()->PerformMicrotaskCheckpoint();
  if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), self, out);
  // Copied results stand for a settled promise by its outcome: its value,
  // or its reason reported as thrown. A pending one stays a handle.
  if ((self->limits.options & V8CAGE_OPTION_OBJECT_HANDLES) == 0 && result->IsPromise()) {
    v8::Local<v8::Promise> promise = result.As<v8::Promise>();
    if (promise->State() == v8::Promise::kRejected) return ReportRejection(s, promise, out);
    if (promise->State() == v8::Promise::kFulfilled) result = promise->Result();
  }
  if (!result->IsObject()) s.NoteNoJobsPending();
  Writer w(self->out);
  EncodeResult encoded = Encode(s, w, result, listing);
  if (encoded.ok) return Finish(V8CAGE_OK, self, out);
  if (s.stop_requested() || tc.HasCaught()) {
    // A getter or proxy trap threw, or the watchdog fired, mid-conversion.
    if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), self, out);
    v8::Local<v8::String> detail;
    if (!tc.Exception()->ToDetailString(s.context()).ToLocal(&detail)) detail = v8::String::Empty(s.isolate());
    self->out.clear();
    Writer report(self->out);
    WriteDetail(s, report,
                v8::String::Concat(s.isolate(),
                                   v8::String::NewFromUtf8Literal(s.isolate(), "reading the result threw: "), detail));
    return Finish(V8CAGE_CONVERSION, self, out);
  }
  return FailWith(V8CAGE_CONVERSION, encoded.error, self, out);
}

}  // namespace v8cage_shim
