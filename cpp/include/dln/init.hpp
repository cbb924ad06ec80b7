// Seeded initialisation: a portable generator (same seed, same bits on every platform and from every
// language binding) and the orthogonal / Gaussian / uniform schemes of the published experiments.
#pragma once

#include "dln/types.hpp"

#include <cstdint>

namespace dln {

// xoshiro256** seeded through splitmix64: small, fast, and fully specified, unlike std:: distributions.
class Rng {
public:
    explicit Rng(std::uint64_t seed);
    std::uint64_t next();
    double uniform();  // in [0, 1), 53 random bits
    double normal();   // standard normal (Box-Muller, both values used)
    // The next `count` normals into out[0 .. count): the values `count` calls of normal() give, on
    // any number of threads (the Box-Muller transform of large draws is split between them).
    void normals(double* out, Index count, int threads = 1);

private:
    std::uint64_t s_[4];
    double spare_ = 0.0;
    bool has_spare_ = false;
};

enum class InitKind { Orthogonal, Gaussian, Uniform };
inline constexpr Named<InitKind> kInits[] = {
    {InitKind::Orthogonal, "orthogonal"}, {InitKind::Gaussian, "gaussian"}, {InitKind::Uniform, "uniform"}};
InitKind parse_init(const std::string& name);

// Weights for widths = [d_in, ..., d_out]; layer l has shape (widths[l+1], widths[l]).
// Orthogonal: scale * top-left block of a Haar square matrix of size max(out, in) (in distribution;
// drawn as a blocked thin QR, see init.cpp).
// Gaussian / uniform: rescaled to the orthogonal layer's expected Frobenius norm,
//   scale * sqrt(min(m,n)/(m n)) * N(0,1)   and   scale * sqrt(3 min(m,n)/(m n)) * U[-1, 1].
// All draws are made in double from one stream, layer after layer; float32 weights are the rounded
// float64 ones. Large layers are shared out among gemm_threads() threads (blas.hpp: the backend's
// setting, all cores by default); the weights are the same bits on any number of threads.
template <class T>
std::vector<Mat<T>> init_weights(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                                 InitKind kind);

// One Haar-distributed orthogonal n x n matrix (QR of a Gaussian with the sign of diag(R) fixed).
Mat<double> haar_orthogonal(Index n, Rng& rng);
// The first k columns of a Haar-distributed n x n matrix (thin QR of an n x k Gaussian), k <= n.
Mat<double> haar_columns(Index n, Index k, Rng& rng);

}  // namespace dln
