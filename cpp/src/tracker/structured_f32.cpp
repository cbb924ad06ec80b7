#include "structured.ipp"

namespace dln {
template class StructuredTracker<float>;
}  // namespace dln
