// Handles: values a result handed to the embedder by id (functions,
// objects, promises, symbols), and the operations on them
// (v8cage_handle_op): property access, calls with a receiver, promise
// state, running pending work, host functions, ES modules (modules.cc).

#include <string>
#include <vector>

#include "decoder.h"
#include "entry.h"
#include "host.h"
#include "modules.h"
#include "report.h"
#include "snapshot.h"

namespace v8cage_shim {

uint32_t Retain(v8cage_isolate* self, v8::Local<v8::Value> value) {
  if (self->handles.size() >= kMaxRetainedHandles) return 0;
  do {
    ++self->last_handle_id;
  } while (self->last_handle_id == 0 || self->handles.count(self->last_handle_id) != 0);
  self->handles.emplace(self->last_handle_id, v8::Global<v8::Value>(self->isolate, value));
  return self->last_handle_id;
}

namespace {

// The object handle `id` names (0: the global object), or empty with the
// reason in `error`.
v8::Local<v8::Value> Lookup(Session& s, uint32_t id, std::string* error) {
  if (id == 0) return s.context()->Global();
  auto found = s.self()->handles.find(id);
  if (found == s.self()->handles.end()) {
    *error = "the handle was released";
    return {};
  }
  return found->second.Get(s.isolate());
}

int PromiseOp(Session& s, v8::TryCatch& tc, v8::Local<v8::Value> target, v8cage_output* out) {
  if (!target->IsPromise()) return FailWith(V8CAGE_INVALID, "the handle is not a promise", s.self(), out);
  v8::Local<v8::Promise> promise = target.As<v8::Promise>();
  // Settled by the work just run, or by microtasks this checkpoint runs.
  s.isolate()->PerformMicrotaskCheckpoint();
  if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), s.self(), out);
  v8::Local<v8::Value> pair[2] = {v8::Integer::New(s.isolate(), 0), v8::Undefined(s.isolate())};
  switch (promise->State()) {
    case v8::Promise::kPending: break;
    case v8::Promise::kFulfilled:
      pair[0] = v8::Integer::New(s.isolate(), 1);
      pair[1] = promise->Result();
      break;
    case v8::Promise::kRejected:
      // The embedder is told: not an unhandled rejection any more.
      promise->MarkAsHandled();
      pair[0] = v8::Integer::New(s.isolate(), 2);
      pair[1] = promise->Result();
      break;
  }
  return CompleteWithValue(s, tc, v8::Array::New(s.isolate(), pair, 2), out, true);
}

int KeysOp(Session& s, v8::TryCatch& tc, v8::Local<v8::Object> target, v8cage_output* out) {
  v8::Local<v8::Array> keys;
  if (!target
           ->GetPropertyNames(s.context(), v8::KeyCollectionMode::kIncludePrototypes,
                              static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS),
                              v8::IndexFilter::kIncludeIndices, v8::KeyConversionMode::kKeepNumbers)
           .ToLocal(&keys)) {
    return ReportFailure(s, tc, false, out);
  }
  return CompleteWithValue(s, tc, keys, out, true);
}

int Operate(Session& s, v8::TryCatch& tc, int op, uint32_t id, std::vector<v8::Local<v8::Value>>& argv,
            v8cage_output* out) {
  v8cage_isolate* self = s.self();
  v8::Local<v8::Context> ctx = s.context();
  if (op == V8CAGE_OP_RUN_PENDING) {
    return CompleteWithValue(s, tc, v8::Number::New(s.isolate(), NextTimerDelay(self)), out);
  }
  if (op == V8CAGE_OP_HEAP_SNAPSHOT) return HeapSnapshot(s, out);
  if (op == V8CAGE_OP_EVAL_MODULE) return EvalModule(s, tc, argv, out);
  if (op == V8CAGE_OP_HOST_FUNCTION) {
    v8::Local<v8::Function> function;
    if (!NewHostFunction(s, id).ToLocal(&function)) return ReportFailure(s, tc, false, out);
    return CompleteWithValue(s, tc, function, out);
  }
  std::string error;
  v8::Local<v8::Value> target = Lookup(s, id, &error);
  if (target.IsEmpty()) return FailWith(V8CAGE_INVALID, error, self, out);
  if (op == V8CAGE_OP_PROMISE) return PromiseOp(s, tc, target, out);
  if (op == V8CAGE_OP_OUTCOME) return Outcome(s, tc, target, out);
  if (!target->IsObject()) return FailWith(V8CAGE_INVALID, "the handle is not an object", self, out);
  v8::Local<v8::Object> object = target.As<v8::Object>();
  size_t wanted = op == V8CAGE_OP_GET || op == V8CAGE_OP_DELETE || op == V8CAGE_OP_HAS ? 1
                  : op == V8CAGE_OP_SET                                                ? 2
                                                                                       : 0;
  if (op == V8CAGE_OP_CALL ? argv.empty() : argv.size() != wanted) {
    return FailWith(V8CAGE_INVALID, "wrong number of arguments for the handle operation", self, out);
  }
  v8::Local<v8::Value> result;
  switch (op) {
    case V8CAGE_OP_CALL:
      if (!object->IsCallable()) return FailWith(V8CAGE_INVALID, "the handle is not a function", self, out);
      if (!object->CallAsFunction(ctx, argv[0], static_cast<int>(argv.size() - 1), argv.data() + 1).ToLocal(&result)) {
        return ReportFailure(s, tc, false, out);
      }
      break;
    case V8CAGE_OP_GET:
      if (!object->Get(ctx, argv[0]).ToLocal(&result)) return ReportFailure(s, tc, false, out);
      break;
    case V8CAGE_OP_SET:
      if (object->Set(ctx, argv[0], argv[1]).IsNothing()) return ReportFailure(s, tc, false, out);
      result = v8::Undefined(s.isolate());
      break;
    case V8CAGE_OP_DELETE: {
      v8::Maybe<bool> had = object->Has(ctx, argv[0]);
      if (had.IsNothing()) return ReportFailure(s, tc, false, out);
      v8::Maybe<bool> deleted = had.FromJust() ? object->Delete(ctx, argv[0]) : v8::Just(false);
      if (deleted.IsNothing()) return ReportFailure(s, tc, false, out);
      result = v8::Boolean::New(s.isolate(), deleted.FromJust());
      break;
    }
    case V8CAGE_OP_HAS: {
      bool found = false;
      if (!object->Has(ctx, argv[0]).To(&found)) return ReportFailure(s, tc, false, out);
      result = v8::Boolean::New(s.isolate(), found);
      break;
    }
    case V8CAGE_OP_KEYS: return KeysOp(s, tc, object, out);
    default: return FailWith(V8CAGE_INVALID, "unknown handle operation", self, out);
  }
  return CompleteWithValue(s, tc, result, out);
}

}  // namespace

}  // namespace v8cage_shim

using namespace v8cage_shim;

extern "C" {

int v8cage_handle_op(v8cage_isolate* iso, int op, uint32_t id, const uint8_t* args, size_t args_len,
                     v8cage_output* out) {
  return Evaluate(iso, out, [&](Session& s, v8::TryCatch& tc) -> int {
    if (op < 0 || op >= V8CAGE_OP_COUNT) return FailWith(V8CAGE_INVALID, "unknown handle operation", iso, out);
    std::vector<v8::Local<v8::Value>> argv;
    std::string error;
    if (!DecodeArguments(s, args, args_len, &argv, &error)) {
      if (s.stop_requested() || tc.HasCaught()) return ReportFailure(s, tc, false, out);
      return FailWith(V8CAGE_INVALID, error, iso, out);
    }
    return Operate(s, tc, op, id, argv, out);
  });
}

void v8cage_release_functions(v8cage_isolate* iso, const uint32_t* ids, size_t count) {
  GuardedVoid([&] {
    v8::Locker locker(iso->isolate);
    v8::Isolate::Scope isolate_scope(iso->isolate);
    for (size_t i = 0; i < count; ++i) {
      iso->handles.erase(ids[i]);
      iso->lent_buffers.erase(ids[i]);
    }
  });
}

}  // extern "C"
