// A fixed team of threads that runs one phase of work at a time: fn(t) for t = 0 .. n-1, with t = 0
// on the calling thread. Threads start once (constructor) and wait between phases, so a step loop
// that runs several phases per step creates no thread and allocates nothing.
//
// `spin_us` > 0: between phases the threads first spin (for up to that many microseconds) on the
// phase counter before sleeping on the condition variable, and the caller spins the same way on the
// completion count. A futex wake-up costs tens of microseconds, more than a whole phase of a small
// sparse step; spinning costs one busy core while the caller does serial work in between.
#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace dln {

class PhasePool {
public:
    explicit PhasePool(int n, int spin_us = 0);
    ~PhasePool();
    PhasePool(const PhasePool&) = delete;
    PhasePool& operator=(const PhasePool&) = delete;

    int size() const { return n_; }

    template <class Fn>
    void run(Fn& fn) {
        if (n_ == 1) {
            fn(0);
            return;
        }
        dispatch([](void* f, int t) { (*static_cast<Fn*>(f))(t); }, &fn);
    }

private:
    using Call = void (*)(void*, int);
    void dispatch(Call call, void* ctx);
    void work(int t);

    int n_;
    int spin_us_;
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable start_, done_;
    Call call_ = nullptr;
    void* ctx_ = nullptr;
    // Atomics so that the spinning side can read them without the mutex; they are still changed
    // under it where a sleeper must not miss the change.
    std::atomic<unsigned long> generation_{0};
    std::atomic<int> pending_{0};
    std::atomic<bool> quit_{false};
};

}  // namespace dln
