// setTimeout/clearTimeout (with V8CAGE_OPTION_EVENT_LOOP), and running the
// work that became due: V8's foreground tasks, microtasks, due timers. It
// runs when an entry point enters the context, inside that entry point's
// timeout, so a timer never runs JavaScript outside a limit.

#include <libplatform/libplatform.h>

#include <chrono>
#include <utility>

#include "internal.h"

namespace v8cage_shim {

namespace {

double NowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr v8cage_compat::ExternalKind kState = v8cage_compat::ExternalKind::kIsolateState;

// The isolate state a timer function was made with (Install).
v8cage_isolate* StateOf(const v8::FunctionCallbackInfo<v8::Value>& info) {
  return static_cast<v8cage_isolate*>(v8cage_compat::ExternalValue(info.Data(), kState));
}

void ThrowError(v8::Isolate* isolate, const char* text, bool type_error) {
  v8::Local<v8::String> message = v8::String::NewFromUtf8(isolate, text).ToLocalChecked();
  isolate->ThrowException(type_error ? v8::Exception::TypeError(message) : v8::Exception::RangeError(message));
}

void SetTimeout(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  auto* self = StateOf(info);
  if (info.Length() < 1 || !info[0]->IsFunction()) {
    return ThrowError(isolate, "setTimeout needs a function", true);
  }
  if (self->timers.size() >= kMaxTimers) return ThrowError(isolate, "too many pending timers", false);
  double delay = 0;
  if (info.Length() >= 2 && !info[1]->NumberValue(isolate->GetCurrentContext()).To(&delay)) return;
  if (!(delay > 0)) delay = 0;  // NaN and negatives too, as in browsers
  v8cage_isolate::Timer timer;
  do {
    ++self->last_timer_id;
  } while (self->last_timer_id == 0 || self->timer_keys.count(self->last_timer_id) != 0);
  timer.id = self->last_timer_id;
  timer.callback.Reset(isolate, info[0].As<v8::Function>());
  for (int i = 2; i < info.Length(); ++i) timer.args.emplace_back(isolate, info[i]);
  v8cage_isolate::TimerKey key{NowMs() + delay, self->timers_created++};
  self->timer_keys.emplace(timer.id, key);
  self->timers.emplace(key, std::move(timer));
  info.GetReturnValue().Set(self->last_timer_id);
}

void ClearTimeout(const v8::FunctionCallbackInfo<v8::Value>& info) {
  auto* self = StateOf(info);
  if (info.Length() < 1 || !info[0]->IsUint32()) return;
  auto found = self->timer_keys.find(info[0].As<v8::Uint32>()->Value());
  if (found == self->timer_keys.end()) return;
  self->timers.erase(found->second);
  self->timer_keys.erase(found);
}

bool Install(v8cage_isolate* self, v8::Local<v8::Context> context, const char* name, v8::FunctionCallback callback) {
  v8::Isolate* isolate = self->isolate;
  v8::Local<v8::Function> function;
  v8::Local<v8::String> key;
  return v8::Function::New(context, callback, v8cage_compat::NewExternal(isolate, self, kState), 0,
                           v8::ConstructorBehavior::kThrow)
             .ToLocal(&function) &&
         v8::String::NewFromUtf8(isolate, name).ToLocal(&key) &&
         context->Global()->Set(context, key, function).FromMaybe(false);
}

}  // namespace

bool InstallTimers(v8cage_isolate* self, v8::Local<v8::Context> context) {
  return Install(self, context, "setTimeout", SetTimeout) && Install(self, context, "clearTimeout", ClearTimeout);
}

double NextTimerDelay(v8cage_isolate* self) {
  if (self->timers.empty()) return -1;
  double delay = self->timers.begin()->first.first - NowMs();
  return delay > 0 ? delay : 0;
}

bool RunDueWork(Session& s) {
  v8::Isolate* isolate = s.isolate();
  v8cage_isolate* self = s.self();
  while (v8::platform::PumpMessageLoop(g_platform, isolate, v8::platform::MessageLoopBehavior::kDoNotWait)) {
    if (s.stop_requested()) return false;
  }
  isolate->PerformMicrotaskCheckpoint();
  if (s.stop_requested()) return false;
  if (self->timers.empty()) return true;
  // Only timers that exist now: one that keeps re-arming itself with no
  // delay must not keep this entry point busy forever.
  double now = NowMs();
  uint64_t created_before = self->timers_created;
  while (!self->timers.empty()) {
    // Ordered by due time, then creation: the first one not due, or made
    // in this pass (so due no earlier than now), ends the pass.
    auto next = self->timers.begin();
    if (next->first.first > now || next->first.second >= created_before) break;
    v8::HandleScope scope(isolate);
    v8::Local<v8::Function> callback = next->second.callback.Get(isolate);
    std::vector<v8::Local<v8::Value>> args;
    for (auto& arg : next->second.args) args.push_back(arg.Get(isolate));
    self->timer_keys.erase(next->second.id);
    self->timers.erase(next);
    {
      v8::TryCatch tc(isolate);
      v8::Local<v8::Value> ignored;
      if (!callback->Call(s.context(), v8::Undefined(isolate), static_cast<int>(args.size()), args.data())
               .ToLocal(&ignored) &&
          (s.stop_requested() || tc.HasTerminated())) {
        return false;
      }
    }
    isolate->PerformMicrotaskCheckpoint();
    if (s.stop_requested()) return false;
  }
  return true;
}

}  // namespace v8cage_shim
