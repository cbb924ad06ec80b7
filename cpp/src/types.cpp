#include "dln/types.hpp"

#include <sstream>

namespace dln {

const char* to_string(Reduction r) { return r == Reduction::Mean ? "mean" : "sum"; }

const char* to_string(Status s) {
    switch (s) {
        case Status::Converged: return "converged";
        case Status::MaxSteps: return "max_steps";
        case Status::Diverged: return "diverged";
        case Status::Interrupted: return "interrupted";
    }
    return "unknown";
}

Reduction parse_reduction(const std::string& name) {
    if (name == "mean") return Reduction::Mean;
    if (name == "sum") return Reduction::Sum;
    invalid("reduction", "expected 'mean' or 'sum', got '" + name + "'");
}

void invalid(const std::string& param, const std::string& message) {
    throw std::invalid_argument(param + ": " + message);
}

std::string shape_str(Index rows, Index cols) {
    std::ostringstream s;
    s << "(" << rows << ", " << cols << ")";
    return s.str();
}

}  // namespace dln
