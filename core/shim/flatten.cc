// Reading plain objects and arrays at JIT speed.
//
// V8 10.2's API reads one property per call (GetOwnPropertyNames per
// object, Get per key: thousands of instructions per small object). A strict
// function of ours walks the tree instead, as JIT-compiled code once warm,
// and writes it as ops into a Float64Array plus one string of all keys and
// short strings; the encoder turns those into the wire format in bulk. Its
// reads are the encoder's own: Object.keys as the context was made (the same
// own enumerable string keys, in the same order, as GetOwnPropertyNames),
// then each property, depth first; every element of an array by index. What
// it cannot place itself (functions, handles, dates, binary data, BigInts,
// symbols, long strings) goes back to the encoder through `visit`, which
// first takes the ops so far, so the output keeps its order. It uses no
// globals a script could replace, no methods (a script could change
// prototypes), only its own objects, and is strict (no `caller`, no
// function in stack-trace call sites). Its state lives in the call, so a
// getter that calls the embedder, whose arguments are encoded in turn,
// nests safely (each nesting has its own buffer).

#include "flatten.h"

namespace v8cage_shim {

namespace {

// Doubles per buffer; a value and a key take at most 4. (The text is
// handed over once longer than 16,384 UTF-16 units, in the source below.)
constexpr uint32_t kFlatCapacity = 4096;

constexpr char kFlattenerSource[] =
    "'use strict';\n"
    "(function flatten(root, rootDepth, maxDepth, budget, capacity, ops, visit, keysOf) {\n"
    "  let n = 0, text = '', frame = null, value = root, depth = rootDepth;\n"
    "  const flush = () => { const ok = visit(undefined, 0, n, text, true) === 2; n = 0; text = ''; return ok; };\n"
    "  const end = (code) => (n === 0 && text === '') || flush() ? code : 1;\n"
    "  for (;;) {\n"
    "    if (depth > maxDepth) return end(3);\n"
    "    if ((n > capacity - 4 || text.length > 16384) && !flush()) return 1;\n"
    "    const type = typeof value;\n"
    "    if (type === 'number') { ops[n] = 4; ops[n + 1] = value; n += 2; }\n"
    "    else if (type === 'string' && value.length <= 256) {\n"
    "      ops[n] = 5; ops[n + 1] = value.length; n += 2; text += value;\n"
    "    }\n"
    "    else if (value === undefined) ops[n++] = 0;\n"
    "    else if (value === null) ops[n++] = 1;\n"
    "    else if (value === true) ops[n++] = 2;\n"
    "    else if (value === false) ops[n++] = 3;\n"
    "    else {\n"
    "      const kind = visit(value, depth, n, text, false);\n"
    "      if (kind === 2) { n = 0; text = ''; }\n"
    "      else if (kind !== 0 && kind !== 1) return 1;\n"
    "      else {\n"
    "        for (let up = frame; up !== null; up = up.up) if (up.container === value) return end(2);\n"
    "        const keys = kind === 0 ? keysOf(value) : null;\n"
    "        const count = kind === 0 ? keys.length : value.length;\n"
    "        ops[n] = kind === 0 ? 8 : 7; ops[n + 1] = count; n += 2;\n"
    "        frame = { container: value, keys, next: 0, count, depth: depth + 1, up: frame };\n"
    "        if (count > (kind === 0 ? budget / 5 : budget) && !flush()) return 1;\n"
    "      }\n"
    "    }\n"
    "    while (frame !== null && frame.next === frame.count) frame = frame.up;\n"
    "    if (frame === null) return end(0);\n"
    "    const at = frame.next;\n"
    "    frame.next = at + 1;\n"
    "    depth = frame.depth;\n"
    "    if (frame.keys === null) { value = frame.container[at]; continue; }\n"
    "    const key = frame.keys[at];\n"
    "    if (typeof key !== 'string') return end(4);\n"
    "    ops[n] = 6; ops[n + 1] = key.length; n += 2; text += key;\n"
    "    value = frame.container[key];\n"
    "  }\n"
    "})";

// `visit(value, depth, count, text, flushOnly)`: the way back into C++.
void Visit(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto* self = static_cast<v8cage_isolate*>(isolate->GetData(0));
  int result = kFlatKindFailed;
  if (self != nullptr && !self->flatten_active.empty() && info.Length() == 5 && info[1]->IsUint32() &&
      info[2]->IsUint32() && info[3]->IsString() && info[2].As<v8::Uint32>()->Value() <= kFlatCapacity) {
    // A copy: the vector may grow while the sink works.
    const auto active = self->flatten_active.back();
    FlattenSink* sink = active.sink;
    uint32_t count = info[2].As<v8::Uint32>()->Value();
    v8::Local<v8::String> text = info[3].As<v8::String>();
    if (info[4]->IsTrue()) {
      result = sink->Flush(active.ops, count, text) ? kFlatKindEncoded : kFlatKindFailed;
    } else {
      result = sink->Place(info[0], info[1].As<v8::Uint32>()->Value(), active.ops, count, text);
    }
  }
  info.GetReturnValue().Set(result);
}

// Makes the flattener and its `visit` once per isolate, in the context the
// results come from.
bool EnsureFlattener(Session& s) {
  v8cage_isolate* self = s.self();
  if (!self->flattener.IsEmpty()) return true;
  if (self->object_keys.IsEmpty()) return false;
  v8::Isolate* isolate = s.isolate();
  v8::Local<v8::Context> ctx = s.context();
  v8::Local<v8::String> source = v8::String::NewFromUtf8Literal(isolate, kFlattenerSource);
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> made;
  v8::Local<v8::Function> visit;
  if (!v8::Script::Compile(ctx, source).ToLocal(&script) || !script->Run(ctx).ToLocal(&made) || !made->IsFunction() ||
      !v8::Function::New(ctx, Visit).ToLocal(&visit)) {
    return false;
  }
  self->flattener.Reset(isolate, made.As<v8::Function>());
  self->flatten_visit.Reset(isolate, visit);
  return true;
}

}  // namespace

bool RememberObjectKeys(v8cage_isolate* self, v8::Local<v8::Context> context) {
  v8::Isolate* isolate = self->isolate;
  v8::Local<v8::Value> object;
  v8::Local<v8::Value> keys;
  if (!context->Global()->Get(context, v8::String::NewFromUtf8Literal(isolate, "Object")).ToLocal(&object) ||
      !object->IsObject() ||
      !object.As<v8::Object>()->Get(context, v8::String::NewFromUtf8Literal(isolate, "keys")).ToLocal(&keys) ||
      !keys->IsFunction()) {
    return false;
  }
  self->object_keys.Reset(isolate, keys.As<v8::Function>());
  return true;
}

int Flatten(Session& s, FlattenSink& sink, v8::Local<v8::Object> root, uint32_t depth, uint32_t max_depth,
            size_t budget) {
  if (!EnsureFlattener(s)) return s.stop_requested() ? -1 : -2;
  v8cage_isolate* self = s.self();
  v8::Isolate* isolate = s.isolate();
  // One buffer per nesting level, made when first needed.
  size_t level = self->flatten_active.size();
  if (self->flatten_buffers.size() <= level) {
    v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, kFlatCapacity * sizeof(double));
    v8cage_isolate::FlattenBuffer made;
    made.ops.Reset(isolate, v8::Float64Array::New(buffer, 0, kFlatCapacity));
    made.data = buffer->GetBackingStore();
    self->flatten_buffers.push_back(std::move(made));
  }
  const auto& buffer = self->flatten_buffers[level];
  v8::Local<v8::Value> args[] = {
      root,
      v8::Integer::NewFromUnsigned(isolate, depth),
      v8::Integer::NewFromUnsigned(isolate, max_depth),
      v8::Number::New(isolate, static_cast<double>(budget)),
      v8::Integer::NewFromUnsigned(isolate, kFlatCapacity),
      buffer.ops.Get(isolate),
      self->flatten_visit.Get(isolate),
      self->object_keys.Get(isolate),
  };
  self->flatten_active.push_back({&sink, static_cast<const double*>(buffer.data->Data())});
  v8::MaybeLocal<v8::Value> ended =
      self->flattener.Get(isolate)->Call(s.context(), v8::Undefined(isolate), sizeof args / sizeof args[0], args);
  self->flatten_active.pop_back();
  v8::Local<v8::Value> code;
  if (!ended.ToLocal(&code)) return -1;
  if (!code->IsUint32() || code.As<v8::Uint32>()->Value() > kFlatKeyNotString) return kFlatFailed;
  return static_cast<int>(code.As<v8::Uint32>()->Value());
}

}  // namespace v8cage_shim
