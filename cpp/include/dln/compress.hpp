// Compression by the law of parsimony (SCIENCE.md 2-3): from an orthogonal init, gradient descent
// moves only a 2r-dimensional subspace of each layer, so the wide network trains exactly like the
// chain  [V_{1,1}^T, eps I, ..., eps I, U_{L,1}]  of width 2r, and the wide weights come back by
//   W_l = U_{l,1} Wt_l V_{l,1}^T + (rho / eps) W_l(0) (I - V_{l,1} V_{l,1}^T).
// The same maths as dln.compression in Python, for C++ users; the subspaces, the chain and the lift
// are computed in double whatever the network's dtype (the chain is rounded to it at the end).
#pragma once

#include "dln/network.hpp"
#include "dln/problem.hpp"
#include "dln/types.hpp"

#include <string>
#include <vector>

namespace dln {

// How the right subspace V_{1,1} of the first layer is found.
//   Closed: orth([V_Phi[:, :r], W_{L:1}(0)^T U_Phi[:, :r]]) from the SVD of a known target Phi.
//   Gradient: orth([V_G[:, :r], W_1(0)^T U_G[:, :r]]) from the top r singular pairs of the first
//     layer's gradient at t = 0 (any problem).
//   Auto: Closed when the target is known, Gradient otherwise.
enum class SubspaceMethod { Auto, Closed, Gradient };
SubspaceMethod parse_subspace_method(const std::string& name);  // throws naming `method`
const char* to_string(SubspaceMethod m);

// The target Phi when the wide dynamics is exactly that of factorisation with a known target: a
// factorisation's target, or Y X^T of a whitened regression (X X^T = I to 1e-10); 0 x 0 otherwise.
template <class T>
Mat<double> known_target(const Problem<T>& problem);

// Orthonormal basis (d_in x 2 rank) of the right subspace that moves. `net` is the wide network at
// its orthogonal initialisation; 1 <= rank <= min(widths) / 2. Throws std::invalid_argument naming
// the parameter (net, rank, method) before any work.
template <class T>
Mat<double> invariant_subspace(const Network<T>& net, const Problem<T>& problem, Index rank,
                               SubspaceMethod method = SubspaceMethod::Auto);

template <class T>
struct Compressed {
    Network<T> chain;               // L + 2 matrices: [V_{1,1}^T, eps I (L times), U_{L,1}]
    Index rank = 0;                 // r; the chain's inner width is 2r
    std::vector<Mat<double>> basis; // V_{l,1}, l = 1 .. L+1 (V_{L+1,1} = U_{L,1}), 2r orthonormal columns each
    double outer_lr_scale = 0.0;    // gamma: the outer factors train at gamma * lr (0 = frozen, the exact theory)
    double scale = 0.0;             // eps, the init scale
    bool exact = false;             // known target, square layers, frozen outer factors: the lift is exact
    // Per-layer learning-rate factors of the chain: [gamma, 1, ..., 1, gamma].
    std::vector<double> lr_scale() const;
};

// The compressed chain of `wide` (at init) for `problem`. Each layer must act as eps times an
// isometry on the subspaces (checked: std::invalid_argument naming `net` otherwise).
template <class T>
Compressed<T> compress(const Network<T>& wide, const Problem<T>& problem, Index rank, double outer_lr_scale = 0.0,
                       SubspaceMethod method = SubspaceMethod::Auto);

// The wide network whose compressed part is `trained` (the chain after training), with the
// complement's singular value rho (see rho_gd). `wide_init` is the wide network compress() was given.
template <class T>
Network<T> lift(const Compressed<T>& compressed, const Network<T>& wide_init, const Network<T>& trained,
                double rho);

// rho(t), t = 0 .. steps, under gradient descent: rho <- rho (1 - lr c rho^(2(L-1))), rho(0) = eps,
// with c the problem's reduction factor (Problem::scale()).
std::vector<double> rho_gd(double eps, double lr, Index depth, long long steps, double c);

extern template Mat<double> known_target(const Problem<float>&);
extern template Mat<double> known_target(const Problem<double>&);
extern template Mat<double> invariant_subspace(const Network<float>&, const Problem<float>&, Index, SubspaceMethod);
extern template Mat<double> invariant_subspace(const Network<double>&, const Problem<double>&, Index, SubspaceMethod);
extern template struct Compressed<float>;
extern template struct Compressed<double>;
extern template Compressed<float> compress(const Network<float>&, const Problem<float>&, Index, double, SubspaceMethod);
extern template Compressed<double> compress(const Network<double>&, const Problem<double>&, Index, double,
                                            SubspaceMethod);
extern template Network<float> lift(const Compressed<float>&, const Network<float>&, const Network<float>&, double);
extern template Network<double> lift(const Compressed<double>&, const Network<double>&, const Network<double>&,
                                     double);

}  // namespace dln
