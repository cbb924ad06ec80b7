#include "dln/phase_pool.hpp"

#include <algorithm>

namespace dln {

PhasePool::PhasePool(int n) : n_(std::max(1, n)) {
    for (int t = 1; t < n_; ++t) threads_.emplace_back([this, t] { work(t); });
}

PhasePool::~PhasePool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        quit_ = true;
    }
    start_.notify_all();
    for (auto& th : threads_) th.join();
}

void PhasePool::dispatch(Call call, void* ctx) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        call_ = call;
        ctx_ = ctx;
        pending_ = n_ - 1;
        ++generation_;
    }
    start_.notify_all();
    call(ctx, 0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
}

void PhasePool::work(int t) {
    unsigned long seen = 0;
    for (;;) {
        Call call;
        void* ctx;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            start_.wait(lock, [&] { return quit_ || generation_ != seen; });
            if (quit_) return;
            seen = generation_;
            call = call_;
            ctx = ctx_;
        }
        call(ctx, t);
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (--pending_ == 0) done_.notify_one();
        }
    }
}

}  // namespace dln
