// Validation of the tracker's settings (dtype-independent).
#include "dln/tracker.hpp"

#include <string>

namespace dln {

void TrackerOptions::validate() const {
    if (max_rank < 1) invalid("max_rank", "must be >= 1, got " + std::to_string(max_rank));
    if (!(direction_tol > 0.0 && direction_tol < 1.0))
        invalid("direction_tol", "must be in (0, 1), got " + std::to_string(direction_tol));
    if (!(ortho_ulp >= 1.0)) invalid("ortho_ulp", "must be >= 1, got " + std::to_string(ortho_ulp));
}

void TrackSpec::validate() const {
    if (every < 1) invalid("every", "must be >= 1, got " + std::to_string(every));
    if (top_p < 0) invalid("top_p", "must be >= 0, got " + std::to_string(top_p));
    if (block_r < 0) invalid("block_r", "must be >= 0, got " + std::to_string(block_r));
    if (update_rank < 1) invalid("update_rank", "must be >= 1, got " + std::to_string(update_rank));
    if (mode != "auto" && mode != "structured" && mode != "generic")
        invalid("mode", "expected 'auto', 'structured' or 'generic', got '" + mode + "'");
    if (reference != "step1" && reference != "theory")
        invalid("reference", "expected 'step1' or 'theory', got '" + reference + "'");
    if (reference == "theory" && block_r < 1)
        invalid("block_r", "reference 'theory' needs the target rank r >= 1 (the moving subspace has 2r directions), got " +
                               std::to_string(block_r));
    if (!(certificate_tol > 0.0)) invalid("certificate_tol", "must be > 0, got " + std::to_string(certificate_tol));
    tracker.validate();
}

}  // namespace dln
