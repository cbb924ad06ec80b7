#include "structured.ipp"

namespace dln {
template class StructuredTracker<double>;
}  // namespace dln
