#include "dln/init.hpp"

#include <Eigen/QR>

#include <algorithm>
#include <cmath>

namespace dln {

namespace {
std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
constexpr double kTwoPi = 6.283185307179586476925286766559;
}  // namespace

Rng::Rng(std::uint64_t seed) {
    for (auto& s : s_) s = splitmix64(seed);
}

std::uint64_t Rng::next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
}

double Rng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

double Rng::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    const double u1 = 1.0 - uniform();  // (0, 1]: log stays finite
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare_ = r * std::sin(kTwoPi * u2);
    has_spare_ = true;
    return r * std::cos(kTwoPi * u2);
}

InitKind parse_init(const std::string& name) {
    if (name == "orthogonal") return InitKind::Orthogonal;
    if (name == "gaussian") return InitKind::Gaussian;
    if (name == "uniform") return InitKind::Uniform;
    invalid("init", "expected 'orthogonal', 'gaussian' or 'uniform', got '" + name + "'");
}

Mat<double> haar_orthogonal(Index n, Rng& rng) { return haar_columns(n, n, rng); }

Mat<double> haar_columns(Index n, Index k, Rng& rng) {
    Eigen::MatrixXd G(n, k);
    for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < k; ++j) G(i, j) = rng.normal();
    Eigen::HouseholderQR<Eigen::MatrixXd> qr(G);
    Eigen::MatrixXd Q = qr.householderQ() * Eigen::MatrixXd::Identity(n, k);
    const auto& R = qr.matrixQR();
    // Fixing the signs of diag(R) makes Q Haar-distributed (plain QR is not).
    for (Index j = 0; j < k; ++j)
        if (R(j, j) < 0) Q.col(j) = -Q.col(j);
    return Q;
}

template <class T>
std::vector<Mat<T>> init_weights(const std::vector<Index>& widths, double scale, std::uint64_t seed,
                                 InitKind kind) {
    if (!(std::isfinite(scale) && scale >= 0.0)) invalid("scale", "must be finite and >= 0, got " + std::to_string(scale));
    Rng rng(seed);
    std::vector<Mat<T>> weights;
    for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
        const Index m = widths[l + 1], n = widths[l];
        const double mn = static_cast<double>(m) * static_cast<double>(n);
        const double k = static_cast<double>(std::min(m, n));
        Mat<double> W(m, n);
        switch (kind) {
            case InitKind::Orthogonal:
                // The first k columns of a Haar matrix of size N are the Q of a thin QR of an N x k
                // Gaussian: O(N k^2) work instead of O(N^3) for a thin layer. A wide layer is the
                // transpose of a tall one (the transpose of a Haar matrix is Haar).
                if (m >= n) W = scale * haar_columns(m, n, rng);
                else W = scale * haar_columns(n, m, rng).transpose();
                break;
            case InitKind::Gaussian: {
                const double f = scale * std::sqrt(k / mn);
                for (Index i = 0; i < m; ++i)
                    for (Index j = 0; j < n; ++j) W(i, j) = f * rng.normal();
                break;
            }
            case InitKind::Uniform: {
                const double f = scale * std::sqrt(3.0 * k / mn);
                for (Index i = 0; i < m; ++i)
                    for (Index j = 0; j < n; ++j) W(i, j) = f * (2.0 * rng.uniform() - 1.0);
                break;
            }
        }
        weights.push_back(W.cast<T>());
    }
    return weights;
}

template std::vector<Mat<float>> init_weights<float>(const std::vector<Index>&, double, std::uint64_t, InitKind);
template std::vector<Mat<double>> init_weights<double>(const std::vector<Index>&, double, std::uint64_t, InitKind);

}  // namespace dln
