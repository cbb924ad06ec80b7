// A fixed team of threads that runs one phase of work at a time: fn(t) for t = 0 .. n-1, with t = 0
// on the calling thread. Threads start once (constructor) and wait between phases, so a step loop
// that runs several phases per step creates no thread and allocates nothing.
#pragma once

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace dln {

class PhasePool {
public:
    explicit PhasePool(int n);
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
    std::vector<std::thread> threads_;
    std::mutex mutex_;
    std::condition_variable start_, done_;
    Call call_ = nullptr;
    void* ctx_ = nullptr;
    unsigned long generation_ = 0;
    int pending_ = 0;
    bool quit_ = false;
};

}  // namespace dln
