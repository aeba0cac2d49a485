// Reading runs of numbers out of a JS array at JIT speed.
//
// V8 10.2's API reads one element per call (Object::Get, ~500 instructions
// each), and has no bulk read. A small strict function of ours copies the
// elements into a Float64Array instead, as JIT-compiled code once warm.
// Its reads are exactly Object::Get's: each element once, in order, with
// getters, proxies and prototype lookups as JS sees them; it stops at the
// first element that is not a number and hands that value back, so the
// encoder never reads an element twice. The function is reachable only
// from here (strict: no `caller`), and uses no globals a script could
// replace.

#include "numbers.h"

namespace v8cage_shim {

namespace {

constexpr char kCopierSource[] =
    "'use strict';\n"
    "(function copyNumbers(array, start, end, out, other) {\n"
    "  for (let i = start; i < end; i++) {\n"
    "    const v = array[i];\n"
    "    if (typeof v !== 'number') { other[0] = v; return i; }\n"
    "    out[i - start] = v;\n"
    "  }\n"
    "  return end;\n"
    "})";

// Makes the copier, its output buffer and its box for the other value once
// per isolate, in the context the results come from.
bool EnsureCopier(Session& s) {
  v8cage_isolate* self = s.self();
  if (!self->number_copier.IsEmpty()) return true;
  v8::Isolate* isolate = s.isolate();
  v8::Local<v8::Context> ctx = s.context();
  v8::Local<v8::String> source = v8::String::NewFromUtf8Literal(isolate, kCopierSource);
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> made;
  if (!v8::Script::Compile(ctx, source).ToLocal(&script) || !script->Run(ctx).ToLocal(&made) || !made->IsFunction()) {
    return false;
  }
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, kNumberRunChunk * sizeof(double));
  v8::Local<v8::Float64Array> out = v8::Float64Array::New(buffer, 0, kNumberRunChunk);
  self->number_copier.Reset(isolate, made.As<v8::Function>());
  self->number_copier_out.Reset(isolate, out);
  self->number_copier_data = buffer->GetBackingStore();
  // The box's slot is an own element from the start: a hole would send the
  // copier's store (and our read) through an accessor a script may put on
  // Array.prototype.
  v8::Local<v8::Value> empty_slot = v8::Undefined(isolate);
  self->number_copier_other.Reset(isolate, v8::Array::New(isolate, &empty_slot, 1));
  return true;
}

}  // namespace

NumberRunStatus ReadNumberRun(Session& s, v8::Local<v8::Array> array, uint32_t start, uint32_t end, NumberRun* run) {
  if (!EnsureCopier(s)) return s.stop_requested() ? kNumberRunFailed : kNumberRunUnavailable;
  v8cage_isolate* self = s.self();
  v8::Isolate* isolate = s.isolate();
  v8::Local<v8::Context> ctx = s.context();
  v8::Local<v8::Array> other = self->number_copier_other.Get(isolate);
  v8::Local<v8::Value> args[] = {array, v8::Integer::NewFromUnsigned(isolate, start),
                                 v8::Integer::NewFromUnsigned(isolate, end), self->number_copier_out.Get(isolate),
                                 other};
  v8::Local<v8::Value> stopped;
  if (!self->number_copier.Get(isolate)->Call(ctx, v8::Undefined(isolate), 5, args).ToLocal(&stopped)) {
    return kNumberRunFailed;
  }
  if (!stopped->IsUint32()) return kNumberRunUnavailable;
  uint32_t stop = stopped.As<v8::Uint32>()->Value();
  if (stop < start || stop > end) return kNumberRunUnavailable;
  run->stop = stop;
  run->numbers = static_cast<const double*>(self->number_copier_data->Data());
  if (stop < end) {
    // Our own array: these cannot run JS, only fail on termination.
    if (!other->Get(ctx, 0).ToLocal(&run->other)) return kNumberRunFailed;
    // Not kept alive by the box past this call.
    if (other->CreateDataProperty(ctx, 0, v8::Undefined(isolate)).IsNothing()) return kNumberRunFailed;
  }
  return kNumberRunRead;
}

}  // namespace v8cage_shim
