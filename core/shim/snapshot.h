// Heap snapshots (snapshot.cc).
#ifndef V8CAGE_SNAPSHOT_H
#define V8CAGE_SNAPSHOT_H

#include "internal.h"
#include "report.h"

namespace v8cage_shim {

// Writes V8's heap snapshot JSON as one string result.
int HeapSnapshot(Session& s, v8cage_output* out);

}  // namespace v8cage_shim

#endif
