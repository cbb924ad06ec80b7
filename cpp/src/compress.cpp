// Compression (dln/compress.hpp): invariant subspace, chain, lift. Everything in double.
#include "dln/compress.hpp"

#include "dln/init.hpp"
#include "dln/linalg.hpp"


#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace dln {

namespace {

using CMd = linalg::CM<double>;

constexpr double kWhitenedAtol = 1e-10;  // X X^T = I to this, entry-wise, counts as whitened
// |U^T U - I| allowed for eps^-1 W_l on the subspace: 1e-8, or 100 rounding units of the weights'
// dtype (a float32 orthogonal init is an isometry only to ~1e-7).
template <class T>
double isometry_tol() {
    return std::max(1e-8, 100.0 * static_cast<double>(std::numeric_limits<T>::epsilon()));
}

template <class T>
Mat<double> to_double(const Eigen::Ref<const Mat<T>>& A) {
    return A.template cast<double>();
}

// Orthonormal basis (Householder QR, thin Q) of the columns of M, each normalised first so that
// blocks of very different scale (eps^L) weigh the same. Dependent columns still give a basis that
// contains their span (the extra directions are arbitrary, as the theory allows).
Mat<double> orth(CMd M) {
    for (Index j = 0; j < M.cols(); ++j) {
        const double n = M.col(j).norm();
        if (n != 0.0) M.col(j) /= n;
    }
    const Index m = M.rows(), k = M.cols();
    linalg::Buffer<double> tau(static_cast<std::size_t>(k)), work(static_cast<std::size_t>(std::max(m, k)));
    linalg::CMap<double> A(M.data(), m, k);
    linalg::householder_qr(A, tau.data(), work.data());
    CMd Q = CMd::Identity(m, k);
    linalg::apply_q(A, tau.data(), k, Q, work.data());
    return Q;
}

// The top r left and right singular vectors of A (m x n). A randomised range of r + 10 columns is
// used when it captures A to 1e-13 (a low-rank target, the common case); otherwise a full SVD.
void top_singular_vectors(const Mat<double>& A, Index r, Mat<double>& U, Mat<double>& V) {
    const Index m = A.rows(), n = A.cols(), k = r + 10;
    if (2 * k < std::min(m, n)) {
        Rng rng(0);
        CMd Omega(n, k);
        for (Index j = 0; j < k; ++j)
            for (Index i = 0; i < n; ++i) Omega(i, j) = rng.normal();
        CMd Y = A * Omega;
        linalg::Buffer<double> tau(static_cast<std::size_t>(k)), work(static_cast<std::size_t>(std::max(m, n)));
        linalg::CMap<double> F(Y.data(), m, k);
        linalg::householder_qr(F, tau.data(), work.data());
        CMd Q = CMd::Identity(m, k);
        linalg::apply_q(F, tau.data(), k, Q, work.data());
        const CMd B = Q.transpose() * A;
        if ((A - Q * B).norm() <= 1e-13 * A.norm()) {
            Eigen::JacobiSVD<CMd> svd(B, Eigen::ComputeThinU | Eigen::ComputeThinV);
            U = Q * svd.matrixU().leftCols(r);
            V = svd.matrixV().leftCols(r);
            return;
        }
    }
    Eigen::JacobiSVD<CMd> svd(CMd(A), Eigen::ComputeThinU | Eigen::ComputeThinV);
    U = svd.matrixU().leftCols(r);
    V = svd.matrixV().leftCols(r);
}

template <class T>
Index check_rank(const Network<T>& net, Index rank) {
    const auto w = net.widths();
    const Index limit = *std::min_element(w.begin(), w.end()) / 2;
    if (rank < 1 || rank > limit) {
        std::ostringstream o;
        o << "must be in [1, min(widths) / 2 = " << limit << "] (the compressed width 2 rank must fit every layer), got "
          << rank;
        invalid("rank", o.str());
    }
    return rank;
}

template <class T>
void check_inputs(const Network<T>& net, const Problem<T>& problem, Index rank) {
    if (!net.activation().linear())
        invalid("net", std::string("the network's activation is '") + net.activation().name() +
                           "'; compression relies on the law of parsimony, which holds for linear networks only");
    problem.check_network(net.widths());
    check_rank(net, rank);
}

template <class T>
double scale_of(const Network<T>& net) {
    const Mat<T>& W1 = net.weight(0);
    return static_cast<double>(W1.template cast<double>().norm()) /
           std::sqrt(static_cast<double>(std::min(W1.rows(), W1.cols())));
}

}  // namespace

namespace {
constexpr Named<SubspaceMethod> kSubspaceMethods[] = {
    {SubspaceMethod::Auto, "auto"}, {SubspaceMethod::Closed, "closed"}, {SubspaceMethod::Gradient, "gradient"}};
}  // namespace

SubspaceMethod parse_subspace_method(const std::string& name) {
    return parse_named(kSubspaceMethods, name, "method");
}

const char* to_string(SubspaceMethod m) { return name_of(kSubspaceMethods, m); }

template <class T>
Mat<double> known_target(const Problem<T>& problem) {
    if (problem.kind() == ProblemKind::Factorization) return to_double<T>(problem.target());
    if (problem.kind() == ProblemKind::Regression && problem.input_dim() <= problem.samples()) {
        const Mat<double> X = to_double<T>(problem.inputs());
        const Mat<double> G = X * X.transpose();
        const double dev = (G - Mat<double>::Identity(G.rows(), G.cols())).cwiseAbs().maxCoeff();
        if (dev <= kWhitenedAtol) return to_double<T>(problem.target()) * X.transpose();
    }
    return Mat<double>();
}

template <class T>
Mat<double> invariant_subspace(const Network<T>& net, const Problem<T>& problem, Index rank, SubspaceMethod method) {
    check_inputs(net, problem, rank);
    const Index r = rank;
    const Mat<double> phi = method == SubspaceMethod::Gradient ? Mat<double>() : known_target(problem);
    if (method == SubspaceMethod::Closed && phi.size() == 0)
        invalid("method", "'closed' needs a known target (factorisation or whitened regression); use 'gradient'");
    Mat<double> U, V;
    CMd M(net.input_dim(), 2 * r);
    if (phi.size() != 0) {
        if (std::min(phi.rows(), phi.cols()) < r)
            invalid("rank", "exceeds the target's dimensions " + shape_str(phi.rows(), phi.cols()));
        top_singular_vectors(phi, r, U, V);
        Mat<double> X = U;  // W_{L:1}(0)^T U as L thin products, never the d x d end-to-end map
        for (Index l = net.depth() - 1; l >= 0; --l) X = to_double<T>(net.weight(l)).transpose() * X;
        M << V, X;
    } else {
        const Mat<double> G = to_double<T>(problem.gradients(net).front());
        top_singular_vectors(G, r, U, V);
        M << V, to_double<T>(net.weight(0)).transpose() * U;
    }
    return orth(std::move(M));
}

template <class T>
std::vector<double> Compressed<T>::lr_scale() const {
    std::vector<double> s(static_cast<std::size_t>(chain.depth()), 1.0);
    s.front() = s.back() = outer_lr_scale;
    return s;
}

template <class T>
Compressed<T> compress(const Network<T>& wide, const Problem<T>& problem, Index rank, double outer_lr_scale,
                       SubspaceMethod method) {
    check_inputs(wide, problem, rank);
    if (!(std::isfinite(outer_lr_scale) && outer_lr_scale >= 0.0))
        invalid("outer_lr_scale", "must be finite and >= 0, got " + std::to_string(outer_lr_scale));
    const double eps = scale_of(wide);
    if (!(eps > 0.0) || !std::isfinite(eps))
        invalid("net", "zero or non-finite first layer; the compression needs W_l(0) = eps * orthogonal with eps > 0");
    const Index r = rank, L = wide.depth();
    std::vector<Mat<double>> basis{invariant_subspace(wide, problem, r, method)};
    for (Index l = 0; l < L; ++l) {
        Mat<double> U = to_double<T>(wide.weight(l)) * basis.back() / eps;
        const double err = (U.transpose() * U - Mat<double>::Identity(2 * r, 2 * r)).cwiseAbs().maxCoeff();
        if (!(err <= isometry_tol<T>())) {
            std::ostringstream o;
            o << "layer " << l << " is not eps * an isometry on the compressed subspace (|U^T U - I| = " << err
              << "); compression needs an orthogonal init";
            invalid("net", o.str());
        }
        basis.push_back(std::move(U));
    }
    std::vector<Mat<T>> chain;
    chain.reserve(static_cast<std::size_t>(L + 2));
    chain.push_back(basis.front().transpose().template cast<T>());
    for (Index l = 0; l < L; ++l) chain.push_back((eps * Mat<double>::Identity(2 * r, 2 * r)).template cast<T>());
    chain.push_back(basis.back().template cast<T>());
    const auto w = wide.widths();
    const bool square = std::all_of(w.begin(), w.end(), [&](Index x) { return x == w.front(); });
    Compressed<T> out{Network<T>(std::move(chain)), r, std::move(basis), outer_lr_scale, eps, false};
    out.exact = known_target(problem).size() != 0 && square && outer_lr_scale == 0.0;
    return out;
}

template <class T>
Network<T> lift(const Compressed<T>& c, const Network<T>& wide_init, const Network<T>& trained, double rho) {
    if (trained.widths() != c.chain.widths()) invalid("trained", "expected a chain of the compressed network's widths");
    const Index L = wide_init.depth();
    if (static_cast<Index>(c.basis.size()) != L + 1 || wide_init.input_dim() != c.basis.front().rows())
        invalid("wide_init", "is not the network this compression was made from");
    if (!std::isfinite(rho)) invalid("rho", "must be finite");
    std::vector<Mat<double>> C;
    for (Index l = 0; l < trained.depth(); ++l) C.push_back(to_double<T>(trained.weight(l)));
    const auto& V = c.basis;
    std::vector<Mat<T>> out;
    for (Index l = 0; l < L; ++l) {
        const auto lu = static_cast<std::size_t>(l);
        const Mat<double>& left = (l < L - 1) ? V[lu + 1] : C.back();
        const Mat<double> right = (l > 0) ? Mat<double>(V[lu].transpose()) : C.front();
        const Mat<double>& core = C[lu + 1];
        const Mat<double> W0 = to_double<T>(wide_init.weight(l));
        const Mat<double> W = left * core * right + (rho / c.scale) * (W0 - (W0 * V[lu]) * V[lu].transpose());
        out.push_back(W.template cast<T>());
    }
    return Network<T>(std::move(out));
}

std::vector<double> rho_gd(double eps, double lr, Index depth, long long steps, double c) {
    if (depth < 1) invalid("depth", "must be >= 1");
    if (steps < 0) invalid("steps", "must be >= 0");
    std::vector<double> rho(static_cast<std::size_t>(steps) + 1);
    rho[0] = eps;
    for (std::size_t t = 0; t + 1 < rho.size(); ++t)
        rho[t + 1] = rho[t] * (1.0 - lr * c * std::pow(rho[t], static_cast<double>(2 * (depth - 1))));
    return rho;
}

template Mat<double> known_target(const Problem<float>&);
template Mat<double> known_target(const Problem<double>&);
template Mat<double> invariant_subspace(const Network<float>&, const Problem<float>&, Index, SubspaceMethod);
template Mat<double> invariant_subspace(const Network<double>&, const Problem<double>&, Index, SubspaceMethod);
template struct Compressed<float>;
template struct Compressed<double>;
template Compressed<float> compress(const Network<float>&, const Problem<float>&, Index, double, SubspaceMethod);
template Compressed<double> compress(const Network<double>&, const Problem<double>&, Index, double, SubspaceMethod);
template Network<float> lift(const Compressed<float>&, const Network<float>&, const Network<float>&, double);
template Network<double> lift(const Compressed<double>&, const Network<double>&, const Network<double>&, double);

}  // namespace dln
