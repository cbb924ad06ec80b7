#include "dln/types.hpp"

#include <cstdint>
#include <sstream>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace dln {

const char* to_string(Reduction r) { return name_of(kReductions, r); }

const char* to_string(Status s) { return name_of(kStatuses, s); }

Reduction parse_reduction(const std::string& name) { return parse_named(kReductions, name, "reduction"); }

void invalid(const std::string& param, const std::string& message) {
    throw std::invalid_argument(param + ": " + message);
}

void prefer_huge_pages(const void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t huge = std::uintptr_t{1} << 21;
    const auto begin = (reinterpret_cast<std::uintptr_t>(p) + huge - 1) & ~(huge - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(p) + bytes) & ~(huge - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
    (void)p, (void)bytes;
#endif
}

std::string shape_str(Index rows, Index cols) {
    std::ostringstream s;
    s << "(" << rows << ", " << cols << ")";
    return s.str();
}

}  // namespace dln
