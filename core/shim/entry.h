// `Evaluate`: how every entry point that runs JavaScript holds the isolate.
#ifndef V8CAGE_ENTRY_H
#define V8CAGE_ENTRY_H

#include "internal.h"
#include "report.h"

namespace v8cage_shim {

// One evaluation: refuses work once the heap stayed exhausted, holds a
// Session and a TryCatch for `body`, first runs the work that became due
// (with V8CAGE_OPTION_EVENT_LOOP), and turns a C++ exception into
// V8CAGE_INTERNAL — or, for a failed allocation (std::bad_alloc, e.g. past
// a worker's address-space limit), into V8CAGE_OUT_OF_MEMORY, after which
// the isolate refuses work: the exception may have left V8 half-way.
template <typename F>
int Evaluate(v8cage_isolate* iso, v8cage_output* out, F&& body) noexcept {
  return Guarded(
      [&]() -> int {
        if (iso->heap_exhausted) return FailWith(V8CAGE_OUT_OF_MEMORY, "", iso, out);
        Session s(iso);
        v8::TryCatch tc(s.isolate());
        if ((iso->limits.options & V8CAGE_OPTION_EVENT_LOOP) != 0 && !RunDueWork(s)) {
          return Finish(s.StatusForStop(), iso, out);
        }
        return std::forward<F>(body)(s, tc);
      },
      [&] {
        if (IsBadAlloc(std::current_exception())) {
          iso->heap_exhausted = true;
          return FailWith(V8CAGE_OUT_OF_MEMORY, "", iso, out);
        }
        return FailWith(V8CAGE_INTERNAL, "internal error (C++ exception) in the shim", iso, out);
      });
}

}  // namespace v8cage_shim

#endif
