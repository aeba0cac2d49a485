// The benchmark floor (cargo feature `bench-floor`, for `cargo bench`):
// compile + run a script straight against V8 in a context's isolate, with no
// conversion and no limits, so benches can say what v8cage's eval costs on top.

#include "../internal.h"
#include "testing.h"

using namespace v8cage_shim;

extern "C" {

uint64_t v8cage_bench_raw_eval(v8cage_isolate* iso, const char* src, size_t len, uint64_t iterations) {
  return Guarded(
      [&]() -> uint64_t {
        v8::Locker locker(iso->isolate);
        v8::Isolate::Scope isolate_scope(iso->isolate);
        v8::HandleScope outer(iso->isolate);
        v8::Local<v8::Context> ctx = iso->context.Get(iso->isolate);
        v8::Context::Scope context_scope(ctx);
        uint64_t ok = 0;
        for (uint64_t i = 0; i < iterations; ++i) {
          v8::HandleScope scope(iso->isolate);
          v8::Local<v8::String> source;
          v8::Local<v8::Script> script;
          v8::Local<v8::Value> result;
          if (v8::String::NewFromUtf8(iso->isolate, src, v8::NewStringType::kNormal, static_cast<int>(len))
                  .ToLocal(&source) &&
              v8::Script::Compile(ctx, source).ToLocal(&script) && script->Run(ctx).ToLocal(&result)) {
            ++ok;
          }
        }
        return ok;
      },
      [] { return 0; });
}

}  // extern "C"
