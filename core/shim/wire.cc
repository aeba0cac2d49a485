// The wire format's table, for the Rust core's test that its constants
// (generated from wire.def by core/build.rs) are the ones compiled in here.

#include "wire.h"

namespace {

constexpr v8cage_wire_entry kEntries[] = {
#define V8CAGE_WIRE_TAG(name, value) {#name, v8cage_wire::k##name},
#define V8CAGE_WIRE_CONST(name, value) {#name, v8cage_wire::k##name},
#include "wire.def"
#undef V8CAGE_WIRE_TAG
#undef V8CAGE_WIRE_CONST
};

}  // namespace

extern "C" const v8cage_wire_entry* v8cage_wire_entries(size_t* count) {
  *count = sizeof kEntries / sizeof kEntries[0];
  return kEntries;
}
