#include "brand.ipp"

namespace dln {
template class BrandTracker<float>;
}  // namespace dln
