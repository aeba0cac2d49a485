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

void ThrowError(v8::Isolate* isolate, const std::string& text, ErrorKind kind) {
  v8::Local<v8::String> message;
  if (!v8::String::NewFromUtf8(isolate, text.data(), v8::NewStringType::kNormal,
                               static_cast<int>(std::min(text.size(), kMaxErrorText)))
           .ToLocal(&message)) {
    message = v8::String::NewFromUtf8Literal(isolate, "the embedder's call failed");
  }
  switch (kind) {
    case ErrorKind::kError: isolate->ThrowException(v8::Exception::Error(message)); break;
    case ErrorKind::kTypeError: isolate->ThrowException(v8::Exception::TypeError(message)); break;
    case ErrorKind::kRangeError: isolate->ThrowException(v8::Exception::RangeError(message)); break;
  }
}

namespace {

void CallHost(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto* self = static_cast<v8cage_isolate*>(isolate->GetData(0));
  Session* session = self == nullptr ? nullptr : self->session;
  if (session == nullptr || self->host_call == nullptr) {
    return ThrowError(isolate, "this host function cannot be called here", ErrorKind::kTypeError);
  }
  std::vector<v8::Local<v8::Value>> argv;
  for (int i = 0; i < info.Length(); ++i) argv.push_back(info[i]);
  v8::Local<v8::Value> returned;
  if (CallEmbedder(*session, info.Data().As<v8::Uint32>()->Value(), argv, "host function").ToLocal(&returned)) {
    info.GetReturnValue().Set(returned);
  }
}

}  // namespace

v8::MaybeLocal<v8::Value> CallEmbedder(Session& s, uint32_t callback_id, std::vector<v8::Local<v8::Value>>& args,
                                       const char* what) {
  v8::Isolate* isolate = s.isolate();
  v8cage_isolate* self = s.self();
  if (self->host_call == nullptr) {
    ThrowError(isolate, std::string("this context has no ") + what, ErrorKind::kTypeError);
    return {};
  }
  std::vector<uint8_t> encoded;
  Writer writer(encoded);
  // A JS exception or a stop while encoding is simply left pending.
  EncodeResult encoded_args = Encode(s, writer, v8::Array::New(isolate, args.data(), args.size()), true);
  if (!encoded_args.ok) {
    if (!s.stop_requested() && !encoded_args.error.empty()) {
      ThrowError(isolate, std::string("an argument cannot be passed to the ") + what + ": " + encoded_args.error,
                 ErrorKind::kTypeError);
    }
    return {};
  }
  v8cage_output result{nullptr, 0};
  int status = self->host_call(self->host_data, callback_id, encoded.data(), encoded.size(), &result);
  if (s.stop_requested()) return {};
  if (status != 0) {
    ThrowError(isolate, std::string(reinterpret_cast<const char*>(result.data), result.data ? result.len : 0),
               ErrorKind::kError);
    return {};
  }
  std::vector<v8::Local<v8::Value>> returned;
  std::string error;
  if (!DecodeArguments(s, result.data, result.len, &returned, &error)) {
    if (!s.stop_requested() && !error.empty()) {
      ThrowError(isolate, std::string("the ") + what + "'s result cannot be passed to JavaScript: " + error,
                 ErrorKind::kTypeError);
    }
    return {};
  }
  return returned[0];
}

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
