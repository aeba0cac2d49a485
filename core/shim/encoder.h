// JS value -> wire bytes, for results.
#ifndef V8CAGE_ENCODER_H
#define V8CAGE_ENCODER_H

#include <string>

#include "internal.h"
#include "writer.h"

namespace v8cage_shim {

struct EncodeResult {
  bool ok;
  // Why, when a conversion limit refused the value; empty when a JS
  // exception or a stop ended it (pending in the caller's TryCatch).
  std::string error;
};

// Encodes `value` after what `writer` holds. On failure the function handles
// it retained are released again (nobody could ever release them).
// `listing`: `value` is an array the shim made (call arguments, keys, a
// promise's state), copied at its top level whatever the options say.
EncodeResult Encode(Session& session, Writer& writer, v8::Local<v8::Value> value, bool listing = false);

}  // namespace v8cage_shim

#endif
