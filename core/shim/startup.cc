// Startup snapshots: the state a setup script left in a
// V8CAGE_OPTION_SNAPSHOT_CREATOR isolate's context, serialized by V8 for
// new isolates to start from (v8cage_limits.snapshot).

#include <climits>
#include <memory>

#include "internal.h"
#include "report.h"

using namespace v8cage_shim;

extern "C" {

int v8cage_snapshot_take(v8cage_isolate* iso, v8cage_output* out) {
  return Guarded(
      [&]() -> int {
        if (iso->creator == nullptr || iso->snapshot_taken) {
          return FailWith(V8CAGE_INVALID, "this isolate cannot make a snapshot", iso, out);
        }
        v8::StartupData blob{nullptr, 0};
        {
          v8::Locker locker(iso->isolate);
          v8::Isolate::Scope isolate_scope(iso->isolate);
          {
            v8::HandleScope handle_scope(iso->isolate);
            v8::Local<v8::Context> context = iso->context.Get(iso->isolate);
            // Our handles are not part of the state; V8 serializes what
            // the context reaches.
            ReleaseIsolateState(iso);
            iso->creator->SetDefaultContext(context);
          }
          // Compiled code is kept: a context from the snapshot runs the
          // setup's functions without compiling them again.
          blob = iso->creator->CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
        }
        iso->snapshot_taken = true;
        std::unique_ptr<const char[]> owned(blob.data);
        if (blob.data == nullptr || blob.raw_size <= 0) {
          return FailWith(V8CAGE_INTERNAL, "V8 could not make a snapshot", iso, out);
        }
        if (static_cast<size_t>(blob.raw_size) > iso->limits.max_result_bytes) {
          return FailWith(V8CAGE_CONVERSION, "the snapshot exceeds max_result_bytes", iso, out);
        }
        iso->out.assign(blob.data, blob.data + blob.raw_size);
        out->data = iso->out.data();
        out->len = iso->out.size();
        return V8CAGE_OK;
      },
      [&] { return V8CAGE_INTERNAL; });
}

int v8cage_snapshot_valid(const uint8_t* blob, size_t len) {
  return Guarded(
      [&]() -> int {
        // V8 reads its version string from the blob's header unchecked
        // (and CHECK-fails on a blob shorter than that): far shorter than
        // any real snapshot.
        constexpr size_t kShortest = 4096;
        if (blob == nullptr || len < kShortest || len > static_cast<size_t>(INT_MAX)) return 0;
        v8::StartupData data{reinterpret_cast<const char*>(blob), static_cast<int>(len)};
        return data.IsValid() ? 1 : 0;
      },
      [] { return 0; });
}

}  // extern "C"
