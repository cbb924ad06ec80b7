// The double instances of Eigen's decompositions declared extern in dln/linalg.hpp (one file per dtype, so
// the two compile in parallel).
#include "dln/linalg.hpp"

DLN_EIGEN_DECOMPOSITIONS(, double)
