// Status objects and worker-thread calls (see status.h): the one place a CUDA code becomes a
// name and a message for JavaScript.
#include "loader/status.h"

#include "loader/cuda_errors.h"
#include "loader/loader.h"

namespace cuipc {
namespace {

// From the table when the loaded library cannot say: no runtime loaded, or a code the
// driver does not name. A code CUDA does not define is named by its number.
std::string TableName(int code, Api api) {
  if (const cuerrors::ErrorRow* r = cuerrors::Find(code, api == Api::Driver)) return r->name;
  return (api == Api::Runtime ? "cudaError(" : "CUresult(") + std::to_string(code) + ")";
}

std::string TableMessage(int code, Api api) {
  if (const cuerrors::ErrorRow* r = cuerrors::Find(code, api == Api::Driver)) return r->text;
  return "CUDA error " + std::to_string(code);
}

}  // namespace

std::string ErrorName(int code, Api api) {
  const char* name = nullptr;
  const Loader& l = GetLoader();
  if (api == Api::Runtime && l.fn.cudaGetErrorName) name = l.fn.cudaGetErrorName(code);
  if (api == Api::Driver && l.fn.cuGetErrorName && l.fn.cuGetErrorName(code, &name) != 0) name = nullptr;
  if (name && *name) return name;
  return TableName(code, api);
}

std::string ErrorMessage(int code, Api api) {
  const char* text = nullptr;
  const Loader& l = GetLoader();
  if (api == Api::Runtime && l.fn.cudaGetErrorString) text = l.fn.cudaGetErrorString(code);
  if (api == Api::Driver && l.fn.cuGetErrorString && l.fn.cuGetErrorString(code, &text) != 0) text = nullptr;
  std::string message = (text && *text) ? text : TableMessage(code, api);
  // When a library is missing, the code alone hides why; add the loader's words.
  std::string why = l.MissingLibraryNote(api);
  if (!why.empty() && code != 0) message += " (" + why + ")";
  return message;
}

Napi::Object MakeStatus(Napi::Env env, const Outcome& o) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("ok", Napi::Boolean::New(env, o.code == 0));
  r.Set("code", Napi::Number::New(env, o.code));
  r.Set("name", Napi::String::New(env, ErrorName(o.code, o.api)));
  r.Set("message", Napi::String::New(env, ErrorMessage(o.code, o.api)));
  r.Set("call", Napi::String::New(env, o.call));
  return r;
}

Napi::Object MakeResult(Napi::Env env, const Outcome& o, Napi::Value value) {
  Napi::Object r = MakeStatus(env, o);
  if (o.code == 0) r.Set("value", value);
  return r;
}

namespace {
class CudaWorker : public Napi::AsyncWorker {
 public:
  CudaWorker(Napi::Env env, const char* name, AsyncCall call, int device)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), call_(std::move(call)), device_(device) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    // The runtime's current device is per thread: carry the JS thread's over.
    const Loader& l = GetLoader();
    if (device_ >= 0 && l.fn.cudaSetDevice) l.fn.cudaSetDevice(device_);
    outcome_ = call_.work();
  }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    deferred_.Resolve(call_.finish(Env(), outcome_));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  AsyncCall call_;
  int device_;
  Outcome outcome_;
};
}  // namespace

Napi::Promise RunAsync(Napi::Env env, const char* name, AsyncCall call) {
  auto* worker = new CudaWorker(env, name, std::move(call), CurrentDevice());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace cuipc
