// Wire bytes -> JS values, for call arguments.
#ifndef V8CAGE_DECODER_H
#define V8CAGE_DECODER_H

#include <string>
#include <vector>

#include "internal.h"

namespace v8cage_shim {

// Decodes an encoded array into `argv`. False with `error` set when the input
// is malformed or over a limit, or with a JS exception or stop pending
// (`error` empty) when V8 failed.
bool DecodeArguments(Session& session, const uint8_t* data, size_t len, std::vector<v8::Local<v8::Value>>* argv,
                     std::string* error);

}  // namespace v8cage_shim

#endif
