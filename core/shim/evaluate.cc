// The evaluation entry points: eval, call by name, call a function handle.
// Each holds a Session for its whole run.

#include <string>
#include <vector>

#include "decoder.h"
#include "entry.h"
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
    v8::ScriptOrigin origin = v8cage_compat::MakeOrigin(s.isolate(), iso->script_name.Get(s.isolate()));
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
    auto found = iso->handles.find(function_id);
    if (found == iso->handles.end()) {
      return FailWith(V8CAGE_INVALID, "the function was released", iso, out);
    }
    v8::Local<v8::Value> target = found->second.Get(s.isolate());
    if (!target->IsObject() || !target.As<v8::Object>()->IsCallable()) {
      return FailWith(V8CAGE_INVALID, "the handle is not a function", iso, out);
    }
    return CallWithArguments(s, tc, target.As<v8::Object>(), v8::Undefined(s.isolate()), args, args_len, out);
  });
}

}  // extern "C"
