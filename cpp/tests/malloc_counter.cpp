// Counts heap allocations of the whole process by interposing glibc's malloc family, so the tests can
// show that a training step allocates nothing (Eigen allocates through malloc, not operator new).
//
// Only dln's allocations count: one whose caller lies inside the OpenBLAS library is the backend's
// own scratch, outside dln's control (scipy-openblas32's AVX-512 dgemm takes a buffer from malloc on
// every call of some shapes), and goes to `backend_allocations` instead, which the tests report.
// With `trace_allocations` set, each counted allocation also prints the stack that made it (glibc's
// backtrace; the re-entrant calls it makes itself are not traced).
#include <dlfcn.h>
#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstring>

extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void __libc_free(void*);
}

namespace dln_test {
std::atomic<long> allocations{0};
std::atomic<long> backend_allocations{0};
std::atomic<bool> trace_allocations{false};
}  // namespace dln_test

namespace {

thread_local bool inside = false;  // the counter's own calls (dladdr, backtrace) are not counted

bool from_backend(void* caller) {
    Dl_info info;
    return dladdr(caller, &info) != 0 && info.dli_fname != nullptr && std::strstr(info.dli_fname, "openblas") != nullptr;
}

void count(void* caller) {
    if (inside) return;
    inside = true;
    if (from_backend(caller)) {
        dln_test::backend_allocations.fetch_add(1, std::memory_order_relaxed);
    } else {
        dln_test::allocations.fetch_add(1, std::memory_order_relaxed);
        if (dln_test::trace_allocations.load(std::memory_order_relaxed)) {
            void* frames[24];
            const int n = backtrace(frames, 24);
            const char header[] = "--- allocation at:\n";
            (void)!write(2, header, sizeof header - 1);
            backtrace_symbols_fd(frames, n, 2);
        }
    }
    inside = false;
}

void* counted_memalign(std::size_t a, std::size_t n, void* caller) {
    count(caller);
    return __libc_memalign(a, n);
}

}  // namespace

extern "C" {
void* malloc(std::size_t n) {
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}
void* calloc(std::size_t n, std::size_t m) {
    count(__builtin_return_address(0));
    return __libc_calloc(n, m);
}
void* realloc(void* p, std::size_t n) {
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}
void* memalign(std::size_t a, std::size_t n) { return counted_memalign(a, n, __builtin_return_address(0)); }
void* aligned_alloc(std::size_t a, std::size_t n) { return counted_memalign(a, n, __builtin_return_address(0)); }
int posix_memalign(void** out, std::size_t a, std::size_t n) {
    void* p = counted_memalign(a, n, __builtin_return_address(0));
    if (!p) return 12;  // ENOMEM
    *out = p;
    return 0;
}
void free(void* p) { __libc_free(p); }
}
