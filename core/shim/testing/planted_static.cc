// Bugs planted for the static analysis job (sanitizer-builds/analyze.sh
// --planted), one per class it is there to catch; the job must report each.
// Only ever analysed: no build compiles this file.
#include <v8.h>

#include <cstring>

namespace v8cage_planted_static {

// A leak on an error path: the early return forgets the copy.
char* planted_leak_on_error_path(const char* text) {
  size_t length = std::strlen(text);
  char* copy = new char[length + 1];
  if (length == 0) return nullptr;
  std::memcpy(copy, text, length + 1);
  return copy;
}

// A null dereference: the branch that saw the null falls through to the read.
int planted_null_dereference(const int* value) {
  int fallback = 0;
  if (value == nullptr) fallback = 1;
  return *value + fallback;
}

// A use of an uninitialised value, on the path where `ready` is false.
int planted_uninitialised_use(bool ready) {
  int result;  // NOLINT(cppcoreguidelines-init-variables): the planted bug
  if (ready) result = 1;
  return result + 1;
}

}  // namespace v8cage_planted_static
