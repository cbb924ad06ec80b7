#include "observer.ipp"

namespace dln {
template class TrackObserver<double>;
}  // namespace dln
