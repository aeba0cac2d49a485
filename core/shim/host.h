// Host functions: JavaScript functions that call the embedder (host.cc).
#ifndef V8CAGE_HOST_H
#define V8CAGE_HOST_H

#include "internal.h"

namespace v8cage_shim {

// A function that calls the embedder's host callback `callback_id`.
v8::MaybeLocal<v8::Function> NewHostFunction(Session& s, uint32_t callback_id);

}  // namespace v8cage_shim

#endif
