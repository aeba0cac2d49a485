// Symbols of the loaded V8 library that are not part of V8's API: the
// exports our own V8 build adds (core/shim/libv8/), or those of a system ICU
// that the V8 library links.

#include <dlfcn.h>

#include "internal.h"

namespace v8cage_shim {

// Looked up in the V8 library and its dependencies, which a host that loaded
// us with RTLD_LOCAL (Python) keeps out of the global scope.
void* V8LibrarySymbol(const char* name) {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&v8::V8::GetVersion), &info) == 0 || info.dli_fname == nullptr) return nullptr;
  void* library = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
  if (library == nullptr) return nullptr;
  void* found = dlsym(library, name);
  // The library stays loaded: V8 is in it.
  dlclose(library);
  return found;
}

}  // namespace v8cage_shim
