// ES modules: a module evaluated by name (V8CAGE_OP_EVAL_MODULE), its
// static imports and every `import()` - from modules and from classic
// scripts - loaded through the embedder's module loader (the host callback
// V8CAGE_MODULE_LOADER), each module compiled once per context and cached
// by its resolved name.

#include "modules.h"

#include <string>
#include <vector>

#include "host.h"
#include "report.h"

namespace v8cage_shim {

namespace {

// The running entry point's Session, or null with a TypeError thrown (V8
// calls the module callbacks only inside one).
Session* ActiveSession(v8::Isolate* isolate) {
  auto* self = static_cast<v8cage_isolate*>(isolate->GetData(0));
  if (self == nullptr || self->session == nullptr) {
    ThrowError(isolate, "modules cannot be loaded here", ErrorKind::kTypeError);
    return nullptr;
  }
  return self->session;
}

// `value` as UTF-8 in `name`; false, with the reason in `error`, unless it
// is a string of at most kMaxModuleName characters.
bool ModuleName(v8::Isolate* isolate, v8::Local<v8::Value> value, const char* what, std::string* name,
                std::string* error) {
  if (!value->IsString()) {
    *error = std::string(what) + " is not a string";
    return false;
  }
  v8::Local<v8::String> text = value.As<v8::String>();
  if (text->Length() > kMaxModuleName) {
    *error = std::string(what) + " is longer than " + std::to_string(kMaxModuleName) + " characters";
    return false;
  }
  v8::String::Utf8Value utf8(isolate, text);
  if (*utf8 == nullptr) {
    *error = std::string(what) + " cannot be read";
    return false;
  }
  name->assign(*utf8, static_cast<size_t>(utf8.length()));
  return true;
}

// The name `specifier` gives from the module named `referrer`: "./x" and
// "../x" relative to the referrer's directory, "/x" from the root, the
// `.` and `..` segments resolved as in a URL path; a bare name ("lodash")
// is its own name. Hand-written: these few lines are the whole rule, and a
// URL library would insist on a scheme our names do not have.
std::string ResolveName(const std::string& referrer, const std::string& specifier) {
  bool relative = specifier.rfind("./", 0) == 0 || specifier.rfind("../", 0) == 0;
  bool absolute = !specifier.empty() && specifier[0] == '/';
  if (!relative && !absolute) return specifier;
  // rfind's npos + 1 is 0: a referrer without a directory contributes none.
  std::string path = absolute ? specifier : referrer.substr(0, referrer.rfind('/') + 1) + specifier;
  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string name = path[0] == '/' ? "/" : "";
  for (size_t i = 0; i < segments.size(); ++i) name += (i == 0 ? "" : "/") + segments[i];
  return name;
}

// Compiles `source` as the module `name` and caches it under that name
// (replacing an earlier module of that name); empty with the SyntaxError
// (or a stop) pending.
v8::MaybeLocal<v8::Module> Compile(Session& s, const std::string& name, v8::Local<v8::String> source) {
  v8cage_isolate* self = s.self();
  v8::Isolate* isolate = s.isolate();
  if (self->modules.size() >= kMaxModules && self->modules.count(name) == 0) {
    ThrowError(isolate, "a context can hold at most " + std::to_string(kMaxModules) + " modules",
               ErrorKind::kRangeError);
    return {};
  }
  v8::Local<v8::String> resource;
  if (!v8::String::NewFromUtf8(isolate, name.data(), v8::NewStringType::kNormal, static_cast<int>(name.size()))
           .ToLocal(&resource)) {
    return {};
  }
  v8::ScriptOrigin origin = v8cage_compat::MakeOrigin(isolate, resource, /*is_module=*/true);
  v8::ScriptCompiler::Source compiled(source, origin);
  v8::Local<v8::Module> module;
  if (!v8::ScriptCompiler::CompileModule(isolate, &compiled).ToLocal(&module)) return {};
  auto earlier = self->modules.find(name);
  if (earlier != self->modules.end()) {
    auto names = self->module_names.equal_range(earlier->second.Get(isolate)->GetIdentityHash());
    for (auto it = names.first; it != names.second; ++it) {
      if (it->second == name) {
        self->module_names.erase(it);
        break;
      }
    }
  }
  self->modules[name].Reset(isolate, module);
  self->module_names.emplace(module->GetIdentityHash(), name);
  return module;
}

// The name `module` was compiled under.
std::string NameOf(v8cage_isolate* self, v8::Local<v8::Module> module) {
  auto names = self->module_names.equal_range(module->GetIdentityHash());
  for (auto it = names.first; it != names.second; ++it) {
    auto found = self->modules.find(it->second);
    if (found != self->modules.end() && found->second.Get(self->isolate) == module) return it->second;
  }
  return "";
}

// The module `specifier` names from the module `referrer` ("" for a
// classic script): cached, or its source fetched from the module loader
// (asked for the resolved name) and compiled. Empty with an exception (or a stop) pending.
v8::MaybeLocal<v8::Module> Load(Session& s, const std::string& referrer, v8::Local<v8::String> specifier) {
  v8::Isolate* isolate = s.isolate();
  v8cage_isolate* self = s.self();
  std::string wanted;
  std::string error;
  if (!ModuleName(isolate, specifier, "a module specifier", &wanted, &error)) {
    ThrowError(isolate, error, ErrorKind::kRangeError);
    return {};
  }
  std::string name = ResolveName(referrer, wanted);
  auto cached = self->modules.find(name);
  if (cached != self->modules.end()) return cached->second.Get(isolate);
  v8::Local<v8::String> name_text;
  v8::Local<v8::String> referrer_text;
  if (!v8::String::NewFromUtf8(isolate, name.data(), v8::NewStringType::kNormal, static_cast<int>(name.size()))
           .ToLocal(&name_text) ||
      !v8::String::NewFromUtf8(isolate, referrer.data(), v8::NewStringType::kNormal, static_cast<int>(referrer.size()))
           .ToLocal(&referrer_text)) {
    return {};
  }
  std::vector<v8::Local<v8::Value>> args = {name_text, referrer_text};
  v8::Local<v8::Value> source;
  if (!CallEmbedder(s, V8CAGE_MODULE_LOADER, args, "module loader").ToLocal(&source)) return {};
  if (!source->IsString()) {
    ThrowError(isolate, "the module loader gave no source text for '" + name + "'", ErrorKind::kTypeError);
    return {};
  }
  return Compile(s, name, source.As<v8::String>());
}

v8::MaybeLocal<v8::Module> ResolveStaticImport(v8::Local<v8::Context> context, v8::Local<v8::String> specifier,
                                               v8::Local<v8::FixedArray> import_attributes,
                                               v8::Local<v8::Module> referrer) {
  static_cast<void>(context);
  static_cast<void>(import_attributes);
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  Session* session = ActiveSession(isolate);
  if (session == nullptr) return {};
  v8::MaybeLocal<v8::Module> module;
  bool thrown = false;
  {
    v8::TryCatch tc(isolate);
    module = Load(*session, NameOf(session->self(), referrer), specifier);
    thrown = tc.HasCaught();
    // V8 expects a failed callback to leave an exception: one an API call
    // inside it left (CompileModule's SyntaxError) is thrown again.
    if (module.IsEmpty() && thrown && !tc.HasTerminated()) tc.ReThrow();
  }
  // A stop requested while the loader ran (the timeout) lands at V8's next
  // interrupt check; until then this stands in.
  if (module.IsEmpty() && !thrown) {
    ThrowError(isolate, "the module was not loaded: the evaluation is stopping", ErrorKind::kError);
  }
  return module;
}

// Links `module` and runs it (a module already run is not run again): its
// evaluation's promise, or empty with an exception (or a stop) pending.
v8::MaybeLocal<v8::Promise> Run(Session& s, v8::Local<v8::Module> module) {
  bool linked = false;
  if (!module->InstantiateModule(s.context(), ResolveStaticImport).To(&linked) || !linked) return {};
  v8::Local<v8::Value> evaluation;
  if (!module->Evaluate(s.context()).ToLocal(&evaluation)) return {};
  if (evaluation->IsPromise()) return evaluation.As<v8::Promise>();
  // Without top-level await V8 gives undefined: the module has run.
  v8::Local<v8::Promise::Resolver> done;
  if (!v8::Promise::Resolver::New(s.context()).ToLocal(&done)) return {};
  if (done->Resolve(s.context(), evaluation).IsNothing()) return {};
  return done->GetPromise();
}

// A plain object (null prototype) holding the exports of the namespace
// `exports`: results are copied unless the embedder asked for handles,
// and a namespace object is otherwise passed as a handle.
v8::MaybeLocal<v8::Object> CopyExports(v8::Local<v8::Context> context, v8::Local<v8::Object> exports) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  v8::Local<v8::Array> keys;
  if (!exports
           ->GetOwnPropertyNames(context, static_cast<v8::PropertyFilter>(v8::ONLY_ENUMERABLE | v8::SKIP_SYMBOLS),
                                 v8::KeyConversionMode::kConvertToString)
           .ToLocal(&keys)) {
    return {};
  }
  std::vector<v8::Local<v8::Name>> names;
  std::vector<v8::Local<v8::Value>> values;
  for (uint32_t i = 0; i < keys->Length(); ++i) {
    v8::Local<v8::Value> key;
    v8::Local<v8::Value> value;
    // A binding still in its temporal dead zone throws here.
    if (!keys->Get(context, i).ToLocal(&key) || !exports->Get(context, key).ToLocal(&value)) return {};
    names.push_back(key.As<v8::Name>());
    values.push_back(value);
  }
  return v8::Object::New(isolate, v8::Null(isolate), names.data(), values.data(), names.size());
}

void ReturnData(const v8::FunctionCallbackInfo<v8::Value>& info) { info.GetReturnValue().Set(info.Data()); }

void ReturnExportsCopy(const v8::FunctionCallbackInfo<v8::Value>& info) {
  v8::Local<v8::Object> copy;
  v8::Local<v8::Context> context = info.GetIsolate()->GetCurrentContext();
  if (CopyExports(context, info.Data().As<v8::Object>()).ToLocal(&copy)) info.GetReturnValue().Set(copy);
}

// Whether results copy a module's exports rather than hand out its namespace.
bool CopiesExports(v8cage_isolate* self) { return (self->limits.options & V8CAGE_OPTION_OBJECT_HANDLES) == 0; }

// A promise of `module`'s namespace (or of a copy of its exports) once
// `evaluation` is fulfilled.
v8::MaybeLocal<v8::Promise> NamespaceWhenRun(Session& s, v8::Local<v8::Module> module,
                                             v8::Local<v8::Promise> evaluation, bool copy) {
  v8::Local<v8::Function> give_namespace;
  if (!v8::Function::New(s.context(), copy ? ReturnExportsCopy : ReturnData, module->GetModuleNamespace(), 0,
                         v8::ConstructorBehavior::kThrow)
           .ToLocal(&give_namespace)) {
    return {};
  }
  return evaluation->Then(s.context(), give_namespace);
}

}  // namespace

v8::MaybeLocal<v8::Promise> ImportModuleDynamically(v8::Local<v8::Context> context,
                                                    v8::Local<v8::Data> host_defined_options,
                                                    v8::Local<v8::Value> resource_name, v8::Local<v8::String> specifier,
                                                    v8::Local<v8::FixedArray> import_attributes) {
  static_cast<void>(host_defined_options);
  static_cast<void>(import_attributes);
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  Session* session = ActiveSession(isolate);
  if (session == nullptr) return {};
  Session& s = *session;
  v8cage_isolate* self = s.self();
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return {};
  // Classic scripts are all compiled under the one script_name string;
  // a module's name is a string of its own.
  std::string referrer;
  std::string error;
  bool from_module = resource_name->IsString() && resource_name != self->script_name.Get(isolate);
  if (!from_module || !ModuleName(isolate, resource_name, "the importing module's name", &referrer, &error)) {
    referrer.clear();
  }
  v8::TryCatch tc(isolate);
  v8::Local<v8::Module> module;
  v8::Local<v8::Promise> evaluation;
  v8::Local<v8::Promise> loaded;
  if (Load(s, referrer, specifier).ToLocal(&module) && Run(s, module).ToLocal(&evaluation) &&
      NamespaceWhenRun(s, module, evaluation, /*copy=*/false).ToLocal(&loaded)) {
    if (resolver->Resolve(context, loaded).IsNothing()) return {};
    return resolver->GetPromise();
  }
  // Termination unwinds on past the import; an exception rejects its
  // promise, and so does a stop whose termination has not landed yet.
  if (tc.HasTerminated()) return {};
  v8::Local<v8::Value> reason = tc.HasCaught() ? tc.Exception()
                                               : v8::Exception::Error(v8::String::NewFromUtf8Literal(
                                                     isolate, "the module was not loaded: the evaluation is stopping"));
  if (resolver->Reject(context, reason).IsNothing()) return {};
  return resolver->GetPromise();
}

int EvalModule(Session& s, v8::TryCatch& tc, std::vector<v8::Local<v8::Value>>& argv, v8cage_output* out) {
  v8cage_isolate* self = s.self();
  v8::Isolate* isolate = s.isolate();
  if (argv.size() != 2 || !argv[1]->IsString()) {
    return FailWith(V8CAGE_INVALID, "a module needs a name and its source text", self, out);
  }
  std::string name;
  std::string error;
  if (!ModuleName(isolate, argv[0], "the module's name", &name, &error)) {
    return FailWith(V8CAGE_INVALID, error, self, out);
  }
  v8::Local<v8::String> source = argv[1].As<v8::String>();
  v8::Local<v8::Module> module;
  if (!Compile(s, name, source).ToLocal(&module)) return ReportFailure(s, tc, /*compiling=*/true, out, source);
  v8::Local<v8::Promise> evaluation;
  if (!Run(s, module).ToLocal(&evaluation)) return ReportFailure(s, tc, false, out);
  isolate->PerformMicrotaskCheckpoint();
  if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), self, out);
  v8::Local<v8::Value> pair[2] = {v8::True(isolate), v8::Undefined(isolate)};
  switch (evaluation->State()) {
    case v8::Promise::kRejected: return ReportRejection(s, evaluation, out);
    case v8::Promise::kFulfilled: {
      v8::Local<v8::Object> exports = module->GetModuleNamespace().As<v8::Object>();
      if (CopiesExports(self) && !CopyExports(s.context(), exports).ToLocal(&exports)) {
        return ReportFailure(s, tc, false, out);
      }
      pair[1] = exports;
      break;
    }
    case v8::Promise::kPending: {
      v8::Local<v8::Promise> loaded;
      if (!NamespaceWhenRun(s, module, evaluation, CopiesExports(self)).ToLocal(&loaded)) {
        return ReportFailure(s, tc, false, out);
      }
      pair[0] = v8::False(isolate);
      pair[1] = loaded;
      break;
    }
  }
  return CompleteWithValue(s, tc, v8::Array::New(isolate, pair, 2), out, /*listing=*/true);
}

int Outcome(Session& s, v8::TryCatch& tc, v8::Local<v8::Value> target, v8cage_output* out) {
  if (!target->IsPromise()) return FailWith(V8CAGE_INVALID, "the handle is not a promise", s.self(), out);
  v8::Local<v8::Promise> promise = target.As<v8::Promise>();
  s.isolate()->PerformMicrotaskCheckpoint();
  if (s.stop_requested() || tc.HasTerminated()) return Finish(s.StatusForStop(), s.self(), out);
  switch (promise->State()) {
    case v8::Promise::kPending: return FailWith(V8CAGE_INVALID, "the promise is still pending", s.self(), out);
    case v8::Promise::kRejected: return ReportRejection(s, promise, out);
    case v8::Promise::kFulfilled: break;
  }
  return CompleteWithValue(s, tc, promise->Result(), out);
}

}  // namespace v8cage_shim
