// The evaluation entry points: eval, call by name, call a function handle,
// and releasing handles. Each holds a Session for its whole run.

#include <string>
#include <vector>

#include "decoder.h"
#include "internal.h"
#include "report.h"

using namespace v8cage_shim;

namespace {

// Decodes `args`, calls `target` with `receiver` and completes the
// evaluation. CallAsFunction, since a function handle may be a callable
// Proxy rather than a v8::Function (for a function it is Function::Call).
int CallWithArguments(Session& s, v8::TryCatch& tc, v8::Local<v8::Object> target, v8::Local<v8::Value> receiver,
                      const uint8_t* args, size_t args_len, v8cage_output* out) {
  std::vector<v8::Local<v8::Value>> argv;
  std::string error;
  if (!DecodeArguments(s, args, args_len, &argv, &error)) {
    if (s.stop_requested() || tc.HasCaught()) return ReportFailure(s, tc, false, out);
    return FailWith(V8CAGE_INVALID, error, s.self(), out);
  }
  v8::Local<v8::Value> result;
  if (!target->CallAsFunction(s.context(), receiver, static_cast<int>(argv.size()), argv.data()).ToLocal(&result)) {
    return ReportFailure(s, tc, false, out);
  }
  return CompleteWithValue(s, tc, result, out);
}

// One evaluation: refuses work once the heap stayed exhausted, holds a
// Session and a TryCatch for `body`, and turns a C++ exception into
// V8CAGE_INTERNAL.
template <typename F>
int Evaluate(v8cage_isolate* iso, v8cage_output* out, F&& body) noexcept {
  return Guarded(
      [&]() -> int {
        if (iso->heap_exhausted) return FailWith(V8CAGE_OUT_OF_MEMORY, "", iso, out);
        Session s(iso);
        v8::TryCatch tc(s.isolate());
        return body(s, tc);
      },
      [&] { return FailWith(V8CAGE_INTERNAL, "internal error (C++ exception) in the shim", iso, out); });
}

}  // namespace

extern "C" {

int v8cage_eval(v8cage_isolate* iso, const char* src, size_t len, v8cage_output* out) {
  return Evaluate(iso, out, [&](Session& s, v8::TryCatch& tc) -> int {
    if (len > static_cast<size_t>(v8::String::kMaxLength)) {
      return FailWith(V8CAGE_INVALID, "source is longer than V8's maximum string length", iso, out);
    }
    v8::Local<v8::String> source;
    if (!v8::String::NewFromUtf8(s.isolate(), src, v8::NewStringType::kNormal, static_cast<int>(len))
             .ToLocal(&source)) {
      if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), iso, out);
      return FailWith(V8CAGE_INVALID, "source cannot be made into a V8 string", iso, out);
    }
    v8::ScriptOrigin origin(s.isolate(), v8::String::NewFromUtf8Literal(s.isolate(), "<eval>"));
    v8::Local<v8::Script> script;
    if (!v8::Script::Compile(s.context(), source, &origin).ToLocal(&script)) {
      return ReportFailure(s, tc, /*compiling=*/true, out, source);
    }
    v8::Local<v8::Value> result;
    if (!script->Run(s.context()).ToLocal(&result)) return ReportFailure(s, tc, false, out);
    return CompleteWithValue(s, tc, result, out);
  });
}

int v8cage_call(v8cage_isolate* iso, const char* name, size_t name_len, const uint8_t* args, size_t args_len,
                v8cage_output* out) {
  return Evaluate(iso, out, [&](Session& s, v8::TryCatch& tc) -> int {
    v8::Local<v8::Context> ctx = s.context();
    // Resolve a dotted path from the global object; `this` is the holder.
    v8::Local<v8::Value> holder = ctx->Global();
    v8::Local<v8::Value> target = holder;
    std::string path(name, name_len);
    size_t start = 0;
    while (true) {
      size_t dot = path.find('.', start);
      std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (part.empty()) return FailWith(V8CAGE_INVALID, "empty name in call path '" + path + "'", iso, out);
      if (!target->IsObject()) {
        return FailWith(V8CAGE_INVALID, "'" + path.substr(0, start - 1) + "' is not an object", iso, out);
      }
      v8::Local<v8::String> key;
      if (!v8::String::NewFromUtf8(s.isolate(), part.data(), v8::NewStringType::kNormal, static_cast<int>(part.size()))
               .ToLocal(&key)) {
        return FailWith(V8CAGE_INVALID, "call path is too long", iso, out);
      }
      holder = target;
      if (!target.As<v8::Object>()->Get(ctx, key).ToLocal(&target)) return ReportFailure(s, tc, false, out);
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    if (!target->IsFunction()) return FailWith(V8CAGE_INVALID, "'" + path + "' is not a function", iso, out);

    return CallWithArguments(s, tc, target.As<v8::Object>(), holder, args, args_len, out);
  });
}

int v8cage_call_function(v8cage_isolate* iso, uint32_t function_id, const uint8_t* args, size_t args_len,
                         v8cage_output* out) {
  return Evaluate(iso, out, [&](Session& s, v8::TryCatch& tc) -> int {
    auto found = iso->functions.find(function_id);
    if (found == iso->functions.end()) {
      return FailWith(V8CAGE_INVALID, "the function was released", iso, out);
    }
    v8::Local<v8::Object> target = found->second.Get(s.isolate());
    return CallWithArguments(s, tc, target, v8::Undefined(s.isolate()), args, args_len, out);
  });
}

void v8cage_release_functions(v8cage_isolate* iso, const uint32_t* ids, size_t count) {
  GuardedVoid([&] {
    v8::Locker locker(iso->isolate);
    v8::Isolate::Scope isolate_scope(iso->isolate);
    for (size_t i = 0; i < count; ++i) iso->functions.erase(ids[i]);
  });
}

}  // extern "C"
