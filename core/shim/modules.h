// ES modules (modules.cc): evaluating one, its imports through the
// embedder's loader, and the context's cache of modules by name.
#ifndef V8CAGE_MODULES_H
#define V8CAGE_MODULES_H

#include <vector>

#include "internal.h"

namespace v8cage_shim {

// V8's callback for `import()`, set on every isolate.
v8::MaybeLocal<v8::Promise> ImportModuleDynamically(v8::Local<v8::Context> context,
                                                    v8::Local<v8::Data> host_defined_options,
                                                    v8::Local<v8::Value> resource_name, v8::Local<v8::String> specifier,
                                                    v8::Local<v8::FixedArray> import_attributes);

// V8CAGE_OP_EVAL_MODULE: argv is [name, source].
int EvalModule(Session& s, v8::TryCatch& tc, std::vector<v8::Local<v8::Value>>& argv, v8cage_output* out);

// V8CAGE_OP_OUTCOME on `target`, a settled promise.
int Outcome(Session& s, v8::TryCatch& tc, v8::Local<v8::Value> target, v8cage_output* out);

}  // namespace v8cage_shim

#endif
