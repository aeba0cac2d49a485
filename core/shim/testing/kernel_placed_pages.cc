// Built only into libFuzzer + ASan builds (core/build.rs defines
// V8CAGE_KERNEL_PLACED_PAGES): a v8::Platform that forwards everything to
// V8's default platform except that its page allocator asks for no
// particular address.
//
// Why: V8 places every heap page at a random address. ASan clears the
// shadow of each mapping V8 makes and unmaps, and the shadow pages that
// clearing touches stay resident; with fresh random addresses for every
// isolate, a process that keeps creating isolates (the api_ops fuzz target)
// grew ~2.3 MiB per input and hit the RSS limit within minutes. Placed by
// the kernel, new mappings reuse the address ranges of freed ones, so their
// shadow is reused too. Production builds keep V8's randomisation.

#include <v8-platform.h>

#include <memory>
#include <utility>

namespace {

class KernelPlacedPageAllocator final : public v8::PageAllocator {
 public:
  explicit KernelPlacedPageAllocator(v8::PageAllocator* inner) : inner_(inner) {}

  size_t AllocatePageSize() override { return inner_->AllocatePageSize(); }
  size_t CommitPageSize() override { return inner_->CommitPageSize(); }
  void SetRandomMmapSeed(int64_t seed) override { inner_->SetRandomMmapSeed(seed); }
  // The one change: no address hint, so the kernel picks (and reuses) one.
  void* GetRandomMmapAddr() override { return nullptr; }
  void* AllocatePages(void* address, size_t length, size_t alignment, Permission access) override {
    return inner_->AllocatePages(address, length, alignment, access);
  }
  bool FreePages(void* address, size_t length) override { return inner_->FreePages(address, length); }
  bool ReleasePages(void* address, size_t length, size_t new_length) override {
    return inner_->ReleasePages(address, length, new_length);
  }
  bool SetPermissions(void* address, size_t length, Permission access) override {
    return inner_->SetPermissions(address, length, access);
  }
  bool DiscardSystemPages(void* address, size_t size) override { return inner_->DiscardSystemPages(address, size); }
  bool DecommitPages(void* address, size_t size) override { return inner_->DecommitPages(address, size); }
  bool ReserveForSharedMemoryMapping(void* address, size_t size) override {
    return inner_->ReserveForSharedMemoryMapping(address, size);
  }
  std::unique_ptr<SharedMemory> AllocateSharedPages(size_t length, const void* original_address) override {
    return inner_->AllocateSharedPages(length, original_address);
  }
  bool CanAllocateSharedPages() override { return inner_->CanAllocateSharedPages(); }

 private:
  v8::PageAllocator* inner_;
};

class KernelPlacedPagesPlatform final : public v8::Platform {
 public:
  explicit KernelPlacedPagesPlatform(v8::Platform* inner) : inner_(inner), pages_(inner->GetPageAllocator()) {}

  v8::PageAllocator* GetPageAllocator() override { return inner_->GetPageAllocator() == nullptr ? nullptr : &pages_; }
  v8::ZoneBackingAllocator* GetZoneBackingAllocator() override { return inner_->GetZoneBackingAllocator(); }
  void OnCriticalMemoryPressure() override { inner_->OnCriticalMemoryPressure(); }
  bool OnCriticalMemoryPressure(size_t length) override { return inner_->OnCriticalMemoryPressure(length); }
  int NumberOfWorkerThreads() override { return inner_->NumberOfWorkerThreads(); }
  std::shared_ptr<v8::TaskRunner> GetForegroundTaskRunner(v8::Isolate* isolate) override {
    return inner_->GetForegroundTaskRunner(isolate);
  }
  void CallOnWorkerThread(std::unique_ptr<v8::Task> task) override { inner_->CallOnWorkerThread(std::move(task)); }
  void CallBlockingTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallBlockingTaskOnWorkerThread(std::move(task));
  }
  void CallLowPriorityTaskOnWorkerThread(std::unique_ptr<v8::Task> task) override {
    inner_->CallLowPriorityTaskOnWorkerThread(std::move(task));
  }
  void CallDelayedOnWorkerThread(std::unique_ptr<v8::Task> task, double delay_in_seconds) override {
    inner_->CallDelayedOnWorkerThread(std::move(task), delay_in_seconds);
  }
  bool IdleTasksEnabled(v8::Isolate* isolate) override { return inner_->IdleTasksEnabled(isolate); }
  std::unique_ptr<v8::JobHandle> PostJob(v8::TaskPriority priority, std::unique_ptr<v8::JobTask> job_task) override {
    return inner_->PostJob(priority, std::move(job_task));
  }
  double MonotonicallyIncreasingTime() override { return inner_->MonotonicallyIncreasingTime(); }
  double CurrentClockTimeMillis() override { return inner_->CurrentClockTimeMillis(); }
  StackTracePrinter GetStackTracePrinter() override { return inner_->GetStackTracePrinter(); }
  v8::TracingController* GetTracingController() override { return inner_->GetTracingController(); }
  void DumpWithoutCrashing() override { inner_->DumpWithoutCrashing(); }
  v8::HighAllocationThroughputObserver* GetHighAllocationThroughputObserver() override {
    return inner_->GetHighAllocationThroughputObserver();
  }

 private:
  v8::Platform* inner_;
  KernelPlacedPageAllocator pages_;
};

}  // namespace

// Declared in isolate.cc. Never destroyed, like the platform it wraps.
v8::Platform* V8cageWrapPlatformWithKernelPlacedPages(v8::Platform* inner) {
  return new KernelPlacedPagesPlatform(inner);
}
