// The wire format (wire.def) as C++ constants, and the table the Rust core's
// test compares with its own copy (generated from the same file).
#ifndef V8CAGE_WIRE_H
#define V8CAGE_WIRE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
namespace v8cage_wire {

enum Tag : uint8_t {
#define V8CAGE_WIRE_TAG(name, value) k##name = (value),
#define V8CAGE_WIRE_CONST(name, value)
#include "wire.def"
#undef V8CAGE_WIRE_TAG
#undef V8CAGE_WIRE_CONST
};

#define V8CAGE_WIRE_TAG(name, value)
#define V8CAGE_WIRE_CONST(name, value) constexpr size_t k##name = value;
#include "wire.def"
#undef V8CAGE_WIRE_TAG
#undef V8CAGE_WIRE_CONST

static_assert(kLenBytes == sizeof(uint32_t), "lengths are u32");
static_assert(kF64Bytes == sizeof(double), "numbers are f64");
static_assert(kBigIntWordBytes == sizeof(uint64_t), "BigInt words are u64");

}  // namespace v8cage_wire
extern "C" {
#endif

typedef struct v8cage_wire_entry {
  const char* name;
  uint64_t value;
} v8cage_wire_entry;

// Every tag and constant the shim was compiled with, in wire.def's order.
const v8cage_wire_entry* v8cage_wire_entries(size_t* count);

#ifdef __cplusplus
}
#endif

#endif
