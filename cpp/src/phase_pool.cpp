#include "dln/phase_pool.hpp"

#include <algorithm>
#include <chrono>

namespace dln {

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

// Spins until done() or `us` microseconds have passed; whether done() came true. After the first
// few microseconds each round also yields: on a machine with more runnable threads than cores the
// thread being waited for may need this core to finish.
template <class Done>
bool spin_until(Done done, int us) {
    if (us <= 0) return done();
    const auto start = std::chrono::steady_clock::now();
    const auto eager = start + std::chrono::microseconds(std::min(us, 20));
    const auto until = start + std::chrono::microseconds(us);
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (done()) return true;
            cpu_relax();
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= until) return done();
        if (now >= eager) std::this_thread::yield();
    }
}

}  // namespace

PhasePool::PhasePool(int n, int spin_us) : n_(std::max(1, n)), spin_us_(std::max(0, spin_us)) {
    for (int t = 1; t < n_; ++t) threads_.emplace_back([this, t] { work(t); });
}

PhasePool::~PhasePool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        quit_.store(true, std::memory_order_release);
    }
    start_.notify_all();
    for (auto& th : threads_) th.join();
}

void PhasePool::dispatch(Call call, void* ctx) {
    call_ = call;
    ctx_ = ctx;
    pending_.store(n_ - 1, std::memory_order_relaxed);
    {
        // The release publishes call_, ctx_ and pending_ to spinning workers; the mutex orders it
        // against a worker that is about to sleep (no lost wake-up).
        std::lock_guard<std::mutex> lock(mutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    start_.notify_all();  // no system call when nobody sleeps
    call(ctx, 0);
    auto finished = [this] { return pending_.load(std::memory_order_acquire) == 0; };
    if (spin_until(finished, spin_us_)) return;
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, finished);
}

void PhasePool::work(int t) {
    unsigned long seen = 0;
    for (;;) {
        auto ready = [&] {
            return quit_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
        };
        if (!spin_until(ready, spin_us_)) {
            std::unique_lock<std::mutex> lock(mutex_);
            start_.wait(lock, ready);
        }
        if (quit_.load(std::memory_order_acquire)) return;
        seen = generation_.load(std::memory_order_acquire);
        call_(ctx_, t);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            std::lock_guard<std::mutex> lock(mutex_);  // the caller may be between its check and its wait
            done_.notify_one();
        }
    }
}

}  // namespace dln
