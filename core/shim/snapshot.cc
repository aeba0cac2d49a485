// Heap snapshots (V8CAGE_OP_HEAP_SNAPSHOT): V8's heap profiler output, the
// JSON Chrome's DevTools read, as one string result bounded by
// max_result_bytes.

#include "snapshot.h"

#include <v8-profiler.h>

#include <string>

#include "wire.h"
#include "writer.h"

namespace v8cage_shim {

namespace {

// Collects the serialised snapshot, refusing to grow past `limit` bytes.
class BoundedStream final : public v8::OutputStream {
 public:
  BoundedStream(std::string& out, size_t limit) : out_(out), limit_(limit) {}
  void EndOfStream() override {}
  int GetChunkSize() override { return 64 * 1024; }
  WriteResult WriteAsciiChunk(char* data, int size) override {
    if (size < 0 || out_.size() + static_cast<size_t>(size) > limit_) {
      over_ = true;
      return kAbort;
    }
    out_.append(data, static_cast<size_t>(size));
    return kContinue;
  }
  bool over() const { return over_; }

 private:
  std::string& out_;
  size_t limit_;
  bool over_ = false;
};

}  // namespace

int HeapSnapshot(Session& s, v8cage_output* out) {
  v8cage_isolate* self = s.self();
  v8::HeapProfiler* profiler = s.isolate()->GetHeapProfiler();
  const v8::HeapSnapshot* snapshot = profiler->TakeHeapSnapshot();
  if (snapshot == nullptr) return FailWith(V8CAGE_INTERNAL, "V8 took no heap snapshot", self, out);
  std::string json;
  size_t limit = self->limits.max_result_bytes > 5 ? self->limits.max_result_bytes - 5 : 0;
  BoundedStream stream(json, limit);
  snapshot->Serialize(&stream, v8::HeapSnapshot::kJSON);
  const_cast<v8::HeapSnapshot*>(snapshot)->Delete();
  profiler->DeleteAllHeapSnapshots();
  if (stream.over()) return FailWith(V8CAGE_CONVERSION, "the heap snapshot exceeds max_result_bytes", self, out);
  self->out.clear();
  Writer w(self->out);
  w.Byte(v8cage_wire::kString);
  w.Text(json);
  return Finish(V8CAGE_OK, self, out);
}

}  // namespace v8cage_shim
