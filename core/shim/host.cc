// Host functions: JavaScript calls the embedder's v8cage_host_call with its
// arguments encoded like a result, and gets the decoded return value, or an
// Error carrying the embedder's message.

#include "host.h"

#include <string>
#include <vector>

#include "decoder.h"
#include "encoder.h"
#include "wire.h"
#include "writer.h"

namespace v8cage_shim {

namespace {

void Throw(v8::Isolate* isolate, const std::string& text, bool type_error) {
  v8::Local<v8::String> message;
  if (!v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                               static_cast<int>(std::min(text.size(), kMaxErrorText)))
           .ToLocal(&message)) {
    message = v8::String::NewFromUtf8Literal(isolate, "host function failed");
  }
  isolate->ThrowException(type_error ? v8::Exception::TypeError(message) : v8::Exception::Error(message));
}

void CallHost(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto* self = static_cast<v8cage_isolate*>(isolate->GetData(0));
  Session* session = self == nullptr ? nullptr : self->session;
  if (session == nullptr || self->host_call == nullptr) {
    return Throw(isolate, "this host function cannot be called here", true);
  }
  uint32_t callback_id = info.Data().As<v8::Uint32>()->Value();
  std::vector<v8::Local<v8::Value>> argv;
  for (int i = 0; i < info.Length(); ++i) argv.push_back(info[i]);
  std::vector<uint8_t> encoded;
  Writer writer(encoded);
  // A JS exception or a stop while encoding is simply left pending.
  EncodeResult args = Encode(*session, writer, v8::Array::New(isolate, argv.data(), argv.size()), true);
  if (!args.ok) {
    if (session->stop_requested() || args.error.empty()) return;
    return Throw(isolate, "an argument cannot be passed to the host function: " + args.error, true);
  }
  v8cage_output result{nullptr, 0};
  int status = self->host_call(self->host_data, callback_id, encoded.data(), encoded.size(), &result);
  if (session->stop_requested()) return;
  if (status != 0) {
    return Throw(isolate, std::string(reinterpret_cast<const char*>(result.data), result.data ? result.len : 0), false);
  }
  std::vector<v8::Local<v8::Value>> returned;
  std::string error;
  if (!DecodeArguments(*session, result.data, result.len, &returned, &error)) {
    if (session->stop_requested() || error.empty()) return;
    return Throw(isolate, "the host function's result cannot be passed to JavaScript: " + error, true);
  }
  info.GetReturnValue().Set(returned[0]);
}

}  // namespace

v8::MaybeLocal<v8::Function> NewHostFunction(Session& s, uint32_t callback_id) {
  return v8::Function::New(s.context(), CallHost, v8::Integer::NewFromUnsigned(s.isolate(), callback_id), 0,
                           v8::ConstructorBehavior::kThrow);
}

}  // namespace v8cage_shim

using namespace v8cage_shim;

extern "C" {

void v8cage_set_host(v8cage_isolate* iso, v8cage_host_call call, void* data) {
  iso->host_call = call;
  iso->host_data = data;
}

}  // extern "C"
