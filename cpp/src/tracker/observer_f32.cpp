#include "observer.ipp"

namespace dln {
template class TrackObserver<float>;
}  // namespace dln
