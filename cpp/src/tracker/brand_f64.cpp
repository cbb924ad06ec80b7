#include "brand.ipp"

namespace dln {
template class BrandTracker<double>;
}  // namespace dln
