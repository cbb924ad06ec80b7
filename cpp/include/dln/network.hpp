// A deep linear network: L >= 1 weight matrices W_1 ... W_L with shapes (out, in) chained.
#pragma once

#include "dln/init.hpp"
#include "dln/types.hpp"

#include <vector>

namespace dln {

template <class T>
class Network {
public:
    // Takes ownership of the weights; checks that there is at least one layer, that no layer is
    // empty, that the shapes chain (W_{l+1}.cols() == W_l.rows()) and that every entry is finite.
    explicit Network(std::vector<Mat<T>> weights);

    static Network orthogonal(const std::vector<Index>& widths, double scale, std::uint64_t seed);
    static Network gaussian(const std::vector<Index>& widths, double scale, std::uint64_t seed);
    static Network uniform(const std::vector<Index>& widths, double scale, std::uint64_t seed);

    Index depth() const { return static_cast<Index>(weights_.size()); }
    Index input_dim() const { return weights_.front().cols(); }
    Index output_dim() const { return weights_.back().rows(); }
    std::vector<Index> widths() const;  // [d_in, n_1, ..., d_out]

    const std::vector<Mat<T>>& weights() const { return weights_; }
    const Mat<T>& weight(Index l) const { return weights_[static_cast<std::size_t>(l)]; }

    Mat<T> end_to_end() const;  // W_L ... W_1, shape (d_out, d_in)
    // Outputs of every layer for data X (d_in x N): [X, W_1 X, W_2 W_1 X, ..., W_{L:1} X].
    std::vector<Mat<T>> layer_outputs(const Eigen::Ref<const Mat<T>>& X) const;
    Mat<T> forward(const Eigen::Ref<const Mat<T>>& X) const;

private:
    std::vector<Mat<T>> weights_;
};

// Checks a widths list for the init constructors: at least two entries, all positive.
void check_widths(const std::vector<Index>& widths);

extern template class Network<float>;
extern template class Network<double>;

}  // namespace dln
