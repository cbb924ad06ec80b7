"""
dln's C++ engine (private: use the `dln` package)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
__all__: list[str] = ['Activation', 'ActivationKind', 'BatchRuns32', 'BatchRuns64', 'BatchSpec32', 'BatchSpec64', 'BrandTracker32', 'BrandTracker64', 'Compressed32', 'Compressed64', 'InitKind', 'OptimizerConfig', 'OptimizerKind', 'Problem32', 'Problem64', 'Reduction', 'RegressionForm', 'SparseCompletion32', 'SparseCompletion64', 'Status', 'StructuredTracker32', 'StructuredTracker64', 'TrackRecord32', 'TrackRecord64', 'TrackSpec', 'TrackState32', 'TrackState64', 'TrainOptions', 'TrainResult32', 'TrainResult64', 'TrainState32', 'TrainState64', 'build_info', 'compress', 'default_threads', 'end_to_end', 'features', 'init_weights', 'invariant_subspace', 'train', 'train_batch']
class OptimizerKind:
    """
    First-order optimiser (SCIENCE.md section 1).
    
    Members:
    
      gd
    
      momentum
    
      adam
    
      rmsprop
    """
    __members__: typing.ClassVar[dict[str, OptimizerKind]]
    adam: typing.ClassVar[OptimizerKind]
    gd: typing.ClassVar[OptimizerKind]
    momentum: typing.ClassVar[OptimizerKind]
    rmsprop: typing.ClassVar[OptimizerKind]
    @typing.overload
    def __eq__(self, other: OptimizerKind) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: OptimizerKind) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class Status:
    """
    Why a training run ended.
    
    Members:
    
      converged
    
      max_steps
    
      diverged
    
      interrupted
    """
    __members__: typing.ClassVar[dict[str, Status]]
    converged: typing.ClassVar[Status]
    diverged: typing.ClassVar[Status]
    interrupted: typing.ClassVar[Status]
    max_steps: typing.ClassVar[Status]
    @typing.overload
    def __eq__(self, other: Status) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Status) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class Reduction:
    """
    How the squared residual is reduced: mean over entries, or sum.
    
    Members:
    
      mean
    
      sum
    """
    __members__: typing.ClassVar[dict[str, Reduction]]
    mean: typing.ClassVar[Reduction]
    sum: typing.ClassVar[Reduction]
    @typing.overload
    def __eq__(self, other: Reduction) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Reduction) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class RegressionForm:
    """
    How a regression loss is evaluated: from covariances, from the data, or chosen.
    
    Members:
    
      auto
    
      covariance
    
      data
    """
    __members__: typing.ClassVar[dict[str, RegressionForm]]
    auto: typing.ClassVar[RegressionForm]
    covariance: typing.ClassVar[RegressionForm]
    data: typing.ClassVar[RegressionForm]
    @typing.overload
    def __eq__(self, other: RegressionForm) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: RegressionForm) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class InitKind:
    """
    How a network's weights are drawn (dln/init.hpp).
    
    Members:
    
      orthogonal
    
      gaussian
    
      uniform
    """
    __members__: typing.ClassVar[dict[str, InitKind]]
    gaussian: typing.ClassVar[InitKind]
    orthogonal: typing.ClassVar[InitKind]
    uniform: typing.ClassVar[InitKind]
    @typing.overload
    def __eq__(self, other: InitKind) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: InitKind) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class ActivationKind:
    """
    The elementwise activation between layers (dln/network.hpp).
    
    Members:
    
      linear
    
      relu
    
      leaky_relu
    
      tanh
    """
    __members__: typing.ClassVar[dict[str, ActivationKind]]
    leaky_relu: typing.ClassVar[ActivationKind]
    linear: typing.ClassVar[ActivationKind]
    relu: typing.ClassVar[ActivationKind]
    tanh: typing.ClassVar[ActivationKind]
    @typing.overload
    def __eq__(self, other: ActivationKind) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: ActivationKind) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class Activation:
    """
    An activation and its leaky_relu slope (dln/network.hpp).
    """
    @staticmethod
    def parse(activation: str, negative_slope: typing.SupportsFloat | typing.SupportsIndex = 0.01) -> Activation:
        """
        The activation of this name ('linear', 'relu', 'leaky_relu', 'tanh'); ValueError naming `activation` or `negative_slope` otherwise.
        """
    def __eq__(self, arg0: typing.Any) -> typing.Any:
        ...
    def __getstate__(self) -> tuple[ActivationKind, float]:
        ...
    def __hash__(self) -> int:
        ...
    def __init__(self, kind: ActivationKind = ActivationKind.linear, negative_slope: typing.SupportsFloat | typing.SupportsIndex = 0.01) -> None:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    @property
    def kind(self) -> ActivationKind:
        ...
    @property
    def linear(self) -> bool:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def negative_slope(self) -> float:
        """
        slope of leaky_relu for negative inputs
        """
class OptimizerConfig:
    """
    An optimiser and its hyper-parameters (dln/optimizer.hpp).
    """
    kind: OptimizerKind
    def __init__(self, kind: OptimizerKind = OptimizerKind.gd, lr: typing.SupportsFloat | typing.SupportsIndex = 0.0, momentum: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta1: typing.SupportsFloat | typing.SupportsIndex = 0.9, beta2: typing.SupportsFloat | typing.SupportsIndex = 0.999, eps: typing.SupportsFloat | typing.SupportsIndex = 1e-08, decay: typing.SupportsFloat | typing.SupportsIndex = 0.9, lr_scale: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex] = []) -> None:
        ...
    def validate(self, depth: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Raise ValueError naming the first bad field, for a network of `depth` layers.
        """
    @property
    def beta1(self) -> float:
        """
        first-moment decay (adam)
        """
    @beta1.setter
    def beta1(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def beta2(self) -> float:
        """
        second-moment decay (adam)
        """
    @beta2.setter
    def beta2(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def decay(self) -> float:
        """
        second-moment decay (rmsprop)
        """
    @decay.setter
    def decay(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def eps(self) -> float:
        """
        added outside the square root (adam, rmsprop)
        """
    @eps.setter
    def eps(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def lr(self) -> float:
        """
        step size (the loss's units: sum or mean reduction)
        """
    @lr.setter
    def lr(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def lr_scale(self) -> list[float]:
        """
        one step-size factor per layer, or empty for ones
        """
    @lr_scale.setter
    def lr_scale(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def momentum(self) -> float:
        """
        heavy-ball coefficient (momentum)
        """
    @momentum.setter
    def momentum(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
class TrainOptions:
    """
    How long a run goes and what it records (dln/trainer.hpp).
    """
    def __init__(self, steps: typing.SupportsInt | typing.SupportsIndex = 0, tol: typing.SupportsFloat | typing.SupportsIndex | None = None, record_every: typing.SupportsInt | typing.SupportsIndex = 1, n_threads: typing.SupportsInt | typing.SupportsIndex = 0, divergence_factor: typing.SupportsFloat | typing.SupportsIndex = 100000000.0) -> None:
        ...
    def validate(self) -> None:
        """
        Raise ValueError naming the first bad field.
        """
    @property
    def divergence_factor(self) -> float:
        """
        diverged when the loss exceeds this times the initial loss
        """
    @divergence_factor.setter
    def divergence_factor(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def n_threads(self) -> int:
        """
        threads for the products; 0 = all cores
        """
    @n_threads.setter
    def n_threads(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def record_every(self) -> int:
        """
        loss history stride
        """
    @record_every.setter
    def record_every(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def steps(self) -> int:
        """
        maximum number of updates, counted from step 0
        """
    @steps.setter
    def steps(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def tol(self) -> float | None:
        """
        stop when the loss is <= tol (None: never)
        """
    @tol.setter
    def tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex | None) -> None:
        ...
class TrackSpec:
    """
    What SVD tracking records inside the loop (dln/tracker.hpp).
    """
    end_to_end: bool
    mode: str
    reference: str
    def __init__(self, every: typing.SupportsInt | typing.SupportsIndex = 1, top_p: typing.SupportsInt | typing.SupportsIndex = 0, block_r: typing.SupportsInt | typing.SupportsIndex = 0, update_rank: typing.SupportsInt | typing.SupportsIndex = 16, max_rank: typing.SupportsInt | typing.SupportsIndex = 64, mode: str = 'auto', certificate_tol: typing.SupportsFloat | typing.SupportsIndex = 1e-10, direction_tol: typing.SupportsFloat | typing.SupportsIndex = 1e-13, ortho_ulp: typing.SupportsFloat | typing.SupportsIndex = 100.0, seed: typing.SupportsInt | typing.SupportsIndex = 0, reference: str = 'step1', end_to_end: bool = False) -> None:
        ...
    def validate(self) -> None:
        """
        Raise ValueError naming the first bad field.
        """
    @property
    def block_r(self) -> int:
        ...
    @block_r.setter
    def block_r(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def certificate_tol(self) -> float:
        ...
    @certificate_tol.setter
    def certificate_tol(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def direction_tol(self) -> float:
        ...
    @direction_tol.setter
    def direction_tol(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def every(self) -> int:
        ...
    @every.setter
    def every(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def max_rank(self) -> int:
        ...
    @max_rank.setter
    def max_rank(self, arg1: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def ortho_ulp(self) -> float:
        ...
    @ortho_ulp.setter
    def ortho_ulp(self, arg1: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def seed(self) -> int:
        ...
    @seed.setter
    def seed(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def top_p(self) -> int:
        ...
    @top_p.setter
    def top_p(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def update_rank(self) -> int:
        ...
    @update_rank.setter
    def update_rank(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class Problem64:
    @staticmethod
    def completion(target: numpy.typing.NDArray[numpy.float64], mask: numpy.typing.NDArray[numpy.float64], reduction: Reduction) -> Problem64:
        ...
    @staticmethod
    def factorization(target: numpy.typing.NDArray[numpy.float64], reduction: Reduction) -> Problem64:
        ...
    @staticmethod
    def regression(X: numpy.typing.NDArray[numpy.float64], Y: numpy.typing.NDArray[numpy.float64], reduction: Reduction, form: RegressionForm) -> Problem64:
        ...
    def check_activation(self, activation: Activation) -> None:
        ...
    def check_network(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None:
        ...
    def flops_per_step(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> float:
        ...
    def form_for(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> RegressionForm:
        ...
    def gradients(self, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], activation: Activation = ...) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        ...
    def loss(self, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], activation: Activation = ...) -> float:
        ...
    def products_per_step(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> int:
        ...
    @property
    def input_dim(self) -> int:
        ...
    @property
    def output_dim(self) -> int:
        ...
    @property
    def scale(self) -> float:
        ...
class Problem32:
    @staticmethod
    def completion(target: numpy.typing.NDArray[numpy.float32], mask: numpy.typing.NDArray[numpy.float32], reduction: Reduction) -> Problem32:
        ...
    @staticmethod
    def factorization(target: numpy.typing.NDArray[numpy.float32], reduction: Reduction) -> Problem32:
        ...
    @staticmethod
    def regression(X: numpy.typing.NDArray[numpy.float32], Y: numpy.typing.NDArray[numpy.float32], reduction: Reduction, form: RegressionForm) -> Problem32:
        ...
    def check_activation(self, activation: Activation) -> None:
        ...
    def check_network(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None:
        ...
    def flops_per_step(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> float:
        ...
    def form_for(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> RegressionForm:
        ...
    def gradients(self, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], activation: Activation = ...) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        ...
    def loss(self, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], activation: Activation = ...) -> float:
        ...
    def products_per_step(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> int:
        ...
    @property
    def input_dim(self) -> int:
        ...
    @property
    def output_dim(self) -> int:
        ...
    @property
    def scale(self) -> float:
        ...
class StructuredTracker64:
    @staticmethod
    def from_matrix(W: numpy.typing.NDArray[numpy.float64], Q: numpy.typing.NDArray[numpy.float64], rho: typing.SupportsFloat | typing.SupportsIndex | None, max_rank: typing.SupportsInt | typing.SupportsIndex, direction_tol: typing.SupportsFloat | typing.SupportsIndex, ortho_ulp: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> tuple[StructuredTracker64, float]:
        ...
    def __init__(self, Q: numpy.typing.NDArray[numpy.float64], rho: typing.SupportsFloat | typing.SupportsIndex, V: numpy.typing.NDArray[numpy.float64], D: numpy.typing.NDArray[numpy.float64], max_rank: typing.SupportsInt | typing.SupportsIndex, direction_tol: typing.SupportsFloat | typing.SupportsIndex, ortho_ulp: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def certificate(self, W: numpy.typing.NDArray[numpy.float64]) -> float:
        ...
    def matrix(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    def orthogonality(self) -> float:
        ...
    def representation_error(self, W: numpy.typing.NDArray[numpy.float64]) -> float:
        ...
    def restart(self, W: numpy.typing.NDArray[numpy.float64]) -> float:
        ...
    def spectrum(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    def triplets(self, first: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex) -> tuple:
        ...
    def update(self, A: numpy.typing.NDArray[numpy.float64], B: numpy.typing.NDArray[numpy.float64], alpha: typing.SupportsFloat | typing.SupportsIndex) -> dict:
        ...
    def update_dense(self, W_after: numpy.typing.NDArray[numpy.float64], max_update_rank: typing.SupportsInt | typing.SupportsIndex) -> dict:
        ...
    @property
    def D(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def V(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def rank(self) -> int:
        ...
    @property
    def reorthonormalisations(self) -> int:
        ...
    @property
    def rho(self) -> float:
        ...
class BrandTracker64:
    def __init__(self, W: numpy.typing.NDArray[numpy.float64], max_rank: typing.SupportsInt | typing.SupportsIndex, direction_tol: typing.SupportsFloat | typing.SupportsIndex, ortho_ulp: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def certificate(self, W: numpy.typing.NDArray[numpy.float64]) -> float:
        ...
    def orthogonality(self) -> float:
        ...
    def spectrum(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    def triplets(self, first: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex) -> tuple:
        ...
    def update(self, A: numpy.typing.NDArray[numpy.float64], B: numpy.typing.NDArray[numpy.float64], alpha: typing.SupportsFloat | typing.SupportsIndex) -> dict:
        ...
    @property
    def discarded(self) -> float:
        ...
    @property
    def rank(self) -> int:
        ...
class StructuredTracker32:
    @staticmethod
    def from_matrix(W: numpy.typing.NDArray[numpy.float32], Q: numpy.typing.NDArray[numpy.float32], rho: typing.SupportsFloat | typing.SupportsIndex | None, max_rank: typing.SupportsInt | typing.SupportsIndex, direction_tol: typing.SupportsFloat | typing.SupportsIndex, ortho_ulp: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> tuple[StructuredTracker32, float]:
        ...
    def __init__(self, Q: numpy.typing.NDArray[numpy.float32], rho: typing.SupportsFloat | typing.SupportsIndex, V: numpy.typing.NDArray[numpy.float32], D: numpy.typing.NDArray[numpy.float32], max_rank: typing.SupportsInt | typing.SupportsIndex, direction_tol: typing.SupportsFloat | typing.SupportsIndex, ortho_ulp: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def certificate(self, W: numpy.typing.NDArray[numpy.float32]) -> float:
        ...
    def matrix(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]:
        ...
    def orthogonality(self) -> float:
        ...
    def representation_error(self, W: numpy.typing.NDArray[numpy.float32]) -> float:
        ...
    def restart(self, W: numpy.typing.NDArray[numpy.float32]) -> float:
        ...
    def spectrum(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    def triplets(self, first: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex) -> tuple:
        ...
    def update(self, A: numpy.typing.NDArray[numpy.float32], B: numpy.typing.NDArray[numpy.float32], alpha: typing.SupportsFloat | typing.SupportsIndex) -> dict:
        ...
    def update_dense(self, W_after: numpy.typing.NDArray[numpy.float32], max_update_rank: typing.SupportsInt | typing.SupportsIndex) -> dict:
        ...
    @property
    def D(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]:
        ...
    @property
    def V(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]:
        ...
    @property
    def dim(self) -> int:
        ...
    @property
    def rank(self) -> int:
        ...
    @property
    def reorthonormalisations(self) -> int:
        ...
    @property
    def rho(self) -> float:
        ...
class BrandTracker32:
    def __init__(self, W: numpy.typing.NDArray[numpy.float32], max_rank: typing.SupportsInt | typing.SupportsIndex, direction_tol: typing.SupportsFloat | typing.SupportsIndex, ortho_ulp: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def certificate(self, W: numpy.typing.NDArray[numpy.float32]) -> float:
        ...
    def orthogonality(self) -> float:
        ...
    def spectrum(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    def triplets(self, first: typing.SupportsInt | typing.SupportsIndex, count: typing.SupportsInt | typing.SupportsIndex) -> tuple:
        ...
    def update(self, A: numpy.typing.NDArray[numpy.float32], B: numpy.typing.NDArray[numpy.float32], alpha: typing.SupportsFloat | typing.SupportsIndex) -> dict:
        ...
    @property
    def discarded(self) -> float:
        ...
    @property
    def rank(self) -> int:
        ...
class TrackState64:
    """
    The trackers' state after a segment of a tracked run: enough to continue it bit for bit.
    """
    @staticmethod
    def from_dict(d: dict) -> TrackState64:
        """
        The state from its checkpoint form; ValueError naming `state` if malformed.
        """
    def __init__(self) -> None:
        ...
    def to_dict(self) -> dict:
        """
        The state as plain data, the form a checkpoint stores (dln.io).
        """
    @property
    def A(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: Q (structured) or U (generic)
        """
    @A.setter
    def A(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def D(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: the core of the low-rank part (structured)
        """
    @D.setter
    def D(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def S(self) -> list[list[float]]:
        """
        generic layers: singular values
        """
    @S.setter
    def S(self, arg0: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]]) -> None:
        ...
    @property
    def V(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: the right basis of the low-rank part
        """
    @V.setter
    def V(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def discarded(self) -> list[float]:
        """
        per layer: total discarded since the start
        """
    @discarded.setter
    def discarded(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def e2e_S(self) -> list[float]:
        """
        end-to-end tracker: singular values
        """
    @e2e_S.setter
    def e2e_S(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def e2e_U(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        """
        end-to-end tracker: left vectors
        """
    @e2e_U.setter
    def e2e_U(self, arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]) -> None:
        ...
    @property
    def e2e_V(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
        """
        end-to-end tracker: right vectors
        """
    @e2e_V.setter
    def e2e_V(self, arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]) -> None:
        ...
    @property
    def e2e_discarded(self) -> float:
        """
        end-to-end tracker: total discarded
        """
    @e2e_discarded.setter
    def e2e_discarded(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def generic_discarded(self) -> list[float]:
        """
        per layer: what the generic tracker discarded
        """
    @generic_discarded.setter
    def generic_discarded(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def have_reference(self) -> bool:
        """
        whether the reference step's blocks are set
        """
    @have_reference.setter
    def have_reference(self, arg0: bool) -> None:
        ...
    @property
    def mode_e2e(self) -> str:
        """
        how the end-to-end product is tracked
        """
    @mode_e2e.setter
    def mode_e2e(self, arg0: str) -> None:
        ...
    @property
    def modes(self) -> list[str]:
        """
        per layer: structured or generic
        """
    @modes.setter
    def modes(self, arg0: collections.abc.Sequence[str]) -> None:
        ...
    @property
    def range_since(self) -> list[float]:
        """
        per layer: largest range residual since the last record
        """
    @range_since.setter
    def range_since(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def ref_bot_l(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: bottom-r left vectors at the reference step (Q-frame)
        """
    @ref_bot_l.setter
    def ref_bot_l(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def ref_bot_r(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: bottom-r right vectors at the reference step
        """
    @ref_bot_r.setter
    def ref_bot_r(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def ref_top_l(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: top-r left vectors at the reference step (Q-frame)
        """
    @ref_top_l.setter
    def ref_top_l(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def ref_top_r(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: top-r right vectors at the reference step
        """
    @ref_top_r.setter
    def ref_top_r(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def reference_step(self) -> int:
        """
        the step the angles are measured against
        """
    @reference_step.setter
    def reference_step(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def reorthonormalisations(self) -> int:
        """
        reorthonormalisations so far
        """
    @reorthonormalisations.setter
    def reorthonormalisations(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def rho(self) -> list[float]:
        """
        per layer: the structured tracker's rho (NaN for generic layers)
        """
    @rho.setter
    def rho(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def seen(self) -> int:
        """
        last step observed
        """
    @seen.setter
    def seen(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def theory_left(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: the theory's left bases, if given
        """
    @theory_left.setter
    def theory_left(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def theory_right(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        per layer: the theory's right bases, if given
        """
    @theory_right.setter
    def theory_right(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
class TrackRecord64:
    """
    What a tracked run recorded ([record][layer] lists; dln.tracking.SvdTrace gives them shape).
    """
    def to_dict(self) -> dict:
        """
        The record as plain data (triplets as (U, S, V) tuples under 'top'): what SvdTrace reads and a checkpoint stores.
        """
    @property
    def angles_left(self) -> list[list[list[float]]]:
        """
        [record][layer][block]: sines of the left blocks vs the reference
        """
    @property
    def angles_right(self) -> list[list[list[float]]]:
        """
        [record][layer][block]: sines of the right blocks vs the reference
        """
    @property
    def certificate(self) -> list[list[float]]:
        """
        [record][layer]: ||(W - rho Q)(I - V V^T)|| / ||W||
        """
    @property
    def certificate_e2e(self) -> list[float]:
        """
        [record]: relative residual of the end-to-end representation on random probes
        """
    @property
    def discarded(self) -> list[list[float]]:
        """
        [record][layer]: discarded so far
        """
    @property
    def events(self) -> list[str]:
        """
        what happened (restarts, switches), as sentences
        """
    @property
    def mode_e2e(self) -> str:
        """
        chained (from the layer trackers) or own
        """
    @property
    def modes(self) -> list[str]:
        """
        per layer: structured or generic
        """
    @property
    def orthogonality(self) -> list[list[float]]:
        """
        [record][layer]: loss of orthogonality of the bases
        """
    @property
    def range_residual(self) -> list[list[float]]:
        """
        [record][layer]: largest range residual since the last record
        """
    @property
    def rank(self) -> list[list[int]]:
        """
        [record][layer]: s, the rank of the low-rank part
        """
    @property
    def rank_e2e(self) -> list[int]:
        """
        [record]: dimension of the end-to-end moving part
        """
    @property
    def reference_step(self) -> int:
        """
        the step the angles are measured against
        """
    @property
    def reorthonormalisations(self) -> int:
        """
        reorthonormalisations during the run
        """
    @property
    def rho(self) -> list[list[float]]:
        """
        [record][layer]: the structured trackers' rho (NaN for generic layers)
        """
    @property
    def spectra(self) -> list[list[list[float]]]:
        """
        [record][layer]: singular values
        """
    @property
    def spectra_e2e(self) -> list[list[float]]:
        """
        [record]: singular values of the end-to-end product
        """
    @property
    def steps(self) -> list[int]:
        """
        the recorded steps
        """
    @property
    def theory_left(self) -> list[list[list[float]]]:
        """
        [record][layer][2]: the same vs the theory's left bases
        """
    @property
    def theory_right(self) -> list[list[list[float]]]:
        """
        [record][layer][2]: sines of the moving subspace and the bulk vs the theory's right bases
        """
class TrackState32:
    """
    The trackers' state after a segment of a tracked run: enough to continue it bit for bit.
    """
    @staticmethod
    def from_dict(d: dict) -> TrackState32:
        """
        The state from its checkpoint form; ValueError naming `state` if malformed.
        """
    def __init__(self) -> None:
        ...
    def to_dict(self) -> dict:
        """
        The state as plain data, the form a checkpoint stores (dln.io).
        """
    @property
    def A(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: Q (structured) or U (generic)
        """
    @A.setter
    def A(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def D(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: the core of the low-rank part (structured)
        """
    @D.setter
    def D(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def S(self) -> list[list[float]]:
        """
        generic layers: singular values
        """
    @S.setter
    def S(self, arg0: collections.abc.Sequence[collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]]) -> None:
        ...
    @property
    def V(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: the right basis of the low-rank part
        """
    @V.setter
    def V(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def discarded(self) -> list[float]:
        """
        per layer: total discarded since the start
        """
    @discarded.setter
    def discarded(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def e2e_S(self) -> list[float]:
        """
        end-to-end tracker: singular values
        """
    @e2e_S.setter
    def e2e_S(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def e2e_U(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]:
        """
        end-to-end tracker: left vectors
        """
    @e2e_U.setter
    def e2e_U(self, arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]) -> None:
        ...
    @property
    def e2e_V(self) -> typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]:
        """
        end-to-end tracker: right vectors
        """
    @e2e_V.setter
    def e2e_V(self, arg0: typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]) -> None:
        ...
    @property
    def e2e_discarded(self) -> float:
        """
        end-to-end tracker: total discarded
        """
    @e2e_discarded.setter
    def e2e_discarded(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def generic_discarded(self) -> list[float]:
        """
        per layer: what the generic tracker discarded
        """
    @generic_discarded.setter
    def generic_discarded(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def have_reference(self) -> bool:
        """
        whether the reference step's blocks are set
        """
    @have_reference.setter
    def have_reference(self, arg0: bool) -> None:
        ...
    @property
    def mode_e2e(self) -> str:
        """
        how the end-to-end product is tracked
        """
    @mode_e2e.setter
    def mode_e2e(self, arg0: str) -> None:
        ...
    @property
    def modes(self) -> list[str]:
        """
        per layer: structured or generic
        """
    @modes.setter
    def modes(self, arg0: collections.abc.Sequence[str]) -> None:
        ...
    @property
    def range_since(self) -> list[float]:
        """
        per layer: largest range residual since the last record
        """
    @range_since.setter
    def range_since(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def ref_bot_l(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: bottom-r left vectors at the reference step (Q-frame)
        """
    @ref_bot_l.setter
    def ref_bot_l(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def ref_bot_r(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: bottom-r right vectors at the reference step
        """
    @ref_bot_r.setter
    def ref_bot_r(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def ref_top_l(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: top-r left vectors at the reference step (Q-frame)
        """
    @ref_top_l.setter
    def ref_top_l(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def ref_top_r(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: top-r right vectors at the reference step
        """
    @ref_top_r.setter
    def ref_top_r(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def reference_step(self) -> int:
        """
        the step the angles are measured against
        """
    @reference_step.setter
    def reference_step(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def reorthonormalisations(self) -> int:
        """
        reorthonormalisations so far
        """
    @reorthonormalisations.setter
    def reorthonormalisations(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def rho(self) -> list[float]:
        """
        per layer: the structured tracker's rho (NaN for generic layers)
        """
    @rho.setter
    def rho(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def seen(self) -> int:
        """
        last step observed
        """
    @seen.setter
    def seen(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def theory_left(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: the theory's left bases, if given
        """
    @theory_left.setter
    def theory_left(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def theory_right(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        per layer: the theory's right bases, if given
        """
    @theory_right.setter
    def theory_right(self, arg0: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
class TrackRecord32:
    """
    What a tracked run recorded ([record][layer] lists; dln.tracking.SvdTrace gives them shape).
    """
    def to_dict(self) -> dict:
        """
        The record as plain data (triplets as (U, S, V) tuples under 'top'): what SvdTrace reads and a checkpoint stores.
        """
    @property
    def angles_left(self) -> list[list[list[float]]]:
        """
        [record][layer][block]: sines of the left blocks vs the reference
        """
    @property
    def angles_right(self) -> list[list[list[float]]]:
        """
        [record][layer][block]: sines of the right blocks vs the reference
        """
    @property
    def certificate(self) -> list[list[float]]:
        """
        [record][layer]: ||(W - rho Q)(I - V V^T)|| / ||W||
        """
    @property
    def certificate_e2e(self) -> list[float]:
        """
        [record]: relative residual of the end-to-end representation on random probes
        """
    @property
    def discarded(self) -> list[list[float]]:
        """
        [record][layer]: discarded so far
        """
    @property
    def events(self) -> list[str]:
        """
        what happened (restarts, switches), as sentences
        """
    @property
    def mode_e2e(self) -> str:
        """
        chained (from the layer trackers) or own
        """
    @property
    def modes(self) -> list[str]:
        """
        per layer: structured or generic
        """
    @property
    def orthogonality(self) -> list[list[float]]:
        """
        [record][layer]: loss of orthogonality of the bases
        """
    @property
    def range_residual(self) -> list[list[float]]:
        """
        [record][layer]: largest range residual since the last record
        """
    @property
    def rank(self) -> list[list[int]]:
        """
        [record][layer]: s, the rank of the low-rank part
        """
    @property
    def rank_e2e(self) -> list[int]:
        """
        [record]: dimension of the end-to-end moving part
        """
    @property
    def reference_step(self) -> int:
        """
        the step the angles are measured against
        """
    @property
    def reorthonormalisations(self) -> int:
        """
        reorthonormalisations during the run
        """
    @property
    def rho(self) -> list[list[float]]:
        """
        [record][layer]: the structured trackers' rho (NaN for generic layers)
        """
    @property
    def spectra(self) -> list[list[list[float]]]:
        """
        [record][layer]: singular values
        """
    @property
    def spectra_e2e(self) -> list[list[float]]:
        """
        [record]: singular values of the end-to-end product
        """
    @property
    def steps(self) -> list[int]:
        """
        the recorded steps
        """
    @property
    def theory_left(self) -> list[list[list[float]]]:
        """
        [record][layer][2]: the same vs the theory's left bases
        """
    @property
    def theory_right(self) -> list[list[list[float]]]:
        """
        [record][layer][2]: sines of the moving subspace and the bulk vs the theory's right bases
        """
class TrainState64:
    """
    Where a resumed run starts: the step, the initial loss (the divergence test compares with it), the loss history so far and the optimiser's state (dln/trainer.hpp).
    """
    def __init__(self, step: typing.SupportsInt | typing.SupportsIndex, initial_loss: typing.SupportsFloat | typing.SupportsIndex, loss: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], optimizer_t: typing.SupportsInt | typing.SupportsIndex, optimizer_m: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], optimizer_v: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def initial_loss(self) -> float:
        ...
    @initial_loss.setter
    def initial_loss(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def loss(self) -> list[float]:
        ...
    @loss.setter
    def loss(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def optimizer_m(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        momentum buffer (momentum) or first moment (adam), per layer; empty otherwise
        """
    @optimizer_m.setter
    def optimizer_m(self, arg1: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def optimizer_t(self) -> int:
        """
        updates the optimiser has taken
        """
    @optimizer_t.setter
    def optimizer_t(self, arg1: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def optimizer_v(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        """
        second moment (adam, rmsprop), per layer; empty otherwise
        """
    @optimizer_v.setter
    def optimizer_v(self, arg1: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> None:
        ...
    @property
    def step(self) -> int:
        ...
    @step.setter
    def step(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class TrainResult64:
    """
    The end of a run (dln/trainer.hpp TrainResult).
    """
    @property
    def final_loss(self) -> float:
        """
        loss of `weights`
        """
    @property
    def form(self) -> RegressionForm:
        """
        the regression form used (auto for other problems)
        """
    @property
    def loss(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        loss history: loss[k] after k * record_every updates
        """
    @property
    def message(self) -> str:
        """
        what happened, in words
        """
    @property
    def n_threads(self) -> int:
        """
        threads the products used
        """
    @property
    def seconds(self) -> float:
        ...
    @property
    def state(self) -> TrainState64:
        """
        the state after `steps` updates: resume from it
        """
    @property
    def status(self) -> Status:
        ...
    @property
    def steps(self) -> int:
        """
        updates applied to reach `weights`
        """
    @property
    def svd(self) -> TrackRecord64 | None:
        """
        the SVD record of a tracked run, else None
        """
    @property
    def svd_state(self) -> TrackState64 | None:
        """
        the trackers' state (tracked runs asked to save it), else None
        """
    @property
    def weights(self) -> list[numpy.typing.NDArray[numpy.float64]]:
        ...
class TrainState32:
    """
    Where a resumed run starts: the step, the initial loss (the divergence test compares with it), the loss history so far and the optimiser's state (dln/trainer.hpp).
    """
    def __init__(self, step: typing.SupportsInt | typing.SupportsIndex, initial_loss: typing.SupportsFloat | typing.SupportsIndex, loss: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex], optimizer_t: typing.SupportsInt | typing.SupportsIndex, optimizer_m: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], optimizer_v: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def initial_loss(self) -> float:
        ...
    @initial_loss.setter
    def initial_loss(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def loss(self) -> list[float]:
        ...
    @loss.setter
    def loss(self, arg0: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex]) -> None:
        ...
    @property
    def optimizer_m(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        momentum buffer (momentum) or first moment (adam), per layer; empty otherwise
        """
    @optimizer_m.setter
    def optimizer_m(self, arg1: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def optimizer_t(self) -> int:
        """
        updates the optimiser has taken
        """
    @optimizer_t.setter
    def optimizer_t(self, arg1: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    @property
    def optimizer_v(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        """
        second moment (adam, rmsprop), per layer; empty otherwise
        """
    @optimizer_v.setter
    def optimizer_v(self, arg1: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> None:
        ...
    @property
    def step(self) -> int:
        ...
    @step.setter
    def step(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
class TrainResult32:
    """
    The end of a run (dln/trainer.hpp TrainResult).
    """
    @property
    def final_loss(self) -> float:
        """
        loss of `weights`
        """
    @property
    def form(self) -> RegressionForm:
        """
        the regression form used (auto for other problems)
        """
    @property
    def loss(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        loss history: loss[k] after k * record_every updates
        """
    @property
    def message(self) -> str:
        """
        what happened, in words
        """
    @property
    def n_threads(self) -> int:
        """
        threads the products used
        """
    @property
    def seconds(self) -> float:
        ...
    @property
    def state(self) -> TrainState32:
        """
        the state after `steps` updates: resume from it
        """
    @property
    def status(self) -> Status:
        ...
    @property
    def steps(self) -> int:
        """
        updates applied to reach `weights`
        """
    @property
    def svd(self) -> TrackRecord32 | None:
        """
        the SVD record of a tracked run, else None
        """
    @property
    def svd_state(self) -> TrackState32 | None:
        """
        the trackers' state (tracked runs asked to save it), else None
        """
    @property
    def weights(self) -> list[numpy.typing.NDArray[numpy.float32]]:
        ...
class BatchSpec64:
    """
    The settings shared by runs of train_batch: the arguments of train but the weights.
    """
    def __init__(self, problem: Problem64, optimizer: OptimizerConfig, options: TrainOptions, activation: Activation = ..., track: TrackSpec | None = None, theory_right: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]] | None = None, theory_left: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]] | None = None) -> None:
        ...
class BatchRuns64:
    """
    The ends of the runs of one spec of train_batch: entry j of every field is run j's.
    """
    @property
    def final_loss(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def form(self) -> list[str]:
        """
        the regression form used (auto for other problems)
        """
    @property
    def loss(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        the loss histories, one after another
        """
    @property
    def loss_offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        run j's history is loss[loss_offsets[j]:loss_offsets[j + 1]]
        """
    @property
    def message(self) -> list[str]:
        """
        what happened, in words
        """
    @property
    def n_threads(self) -> numpy.typing.NDArray[numpy.int32]:
        """
        threads the products used
        """
    @property
    def seconds(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def status(self) -> list[str]:
        """
        names: converged, max_steps, diverged or interrupted
        """
    @property
    def steps(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        updates applied to reach each run's weights
        """
    @property
    def svd(self) -> list[TrackRecord64 | None]:
        """
        per run, the SVD record of a tracked run, else None
        """
    @property
    def weights(self) -> list[list[numpy.typing.NDArray[numpy.float64]]]:
        """
        per run, the trained weights (one array per layer)
        """
class BatchSpec32:
    """
    The settings shared by runs of train_batch: the arguments of train but the weights.
    """
    def __init__(self, problem: Problem32, optimizer: OptimizerConfig, options: TrainOptions, activation: Activation = ..., track: TrackSpec | None = None, theory_right: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]] | None = None, theory_left: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]] | None = None) -> None:
        ...
class BatchRuns32:
    """
    The ends of the runs of one spec of train_batch: entry j of every field is run j's.
    """
    @property
    def final_loss(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def form(self) -> list[str]:
        """
        the regression form used (auto for other problems)
        """
    @property
    def loss(self) -> numpy.typing.NDArray[numpy.float64]:
        """
        the loss histories, one after another
        """
    @property
    def loss_offsets(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        run j's history is loss[loss_offsets[j]:loss_offsets[j + 1]]
        """
    @property
    def message(self) -> list[str]:
        """
        what happened, in words
        """
    @property
    def n_threads(self) -> numpy.typing.NDArray[numpy.int32]:
        """
        threads the products used
        """
    @property
    def seconds(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def status(self) -> list[str]:
        """
        names: converged, max_steps, diverged or interrupted
        """
    @property
    def steps(self) -> numpy.typing.NDArray[numpy.int64]:
        """
        updates applied to reach each run's weights
        """
    @property
    def svd(self) -> list[TrackRecord32 | None]:
        """
        per run, the SVD record of a tracked run, else None
        """
    @property
    def weights(self) -> list[list[numpy.typing.NDArray[numpy.float32]]]:
        """
        per run, the trained weights (one array per layer)
        """
class SparseCompletion64:
    def __init__(self, d_out: typing.SupportsInt | typing.SupportsIndex, d_in: typing.SupportsInt | typing.SupportsIndex, rows: numpy.typing.NDArray[numpy.int64], cols: numpy.typing.NDArray[numpy.int64], values: numpy.typing.NDArray[numpy.float64], reduction: Reduction) -> None:
        ...
    def check_network(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None:
        ...
    def flops_per_step(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> float:
        ...
    def gradients(self, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], n_threads: typing.SupportsInt | typing.SupportsIndex = 1) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        ...
    def loss(self, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], n_threads: typing.SupportsInt | typing.SupportsIndex = 1) -> float:
        ...
    @property
    def input_dim(self) -> int:
        ...
    @property
    def memory_bytes(self) -> int:
        ...
    @property
    def observed(self) -> int:
        ...
    @property
    def output_dim(self) -> int:
        ...
    @property
    def scale(self) -> float:
        ...
class Compressed64:
    def lift(self, wide_init: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], trained: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], rho: typing.SupportsFloat | typing.SupportsIndex) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        ...
    @property
    def basis(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        ...
    @property
    def chain(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        ...
    @property
    def exact(self) -> bool:
        ...
    @property
    def lr_scale(self) -> list[float]:
        ...
    @property
    def outer_lr_scale(self) -> float:
        ...
    @property
    def rank(self) -> int:
        ...
    @property
    def scale(self) -> float:
        ...
class SparseCompletion32:
    def __init__(self, d_out: typing.SupportsInt | typing.SupportsIndex, d_in: typing.SupportsInt | typing.SupportsIndex, rows: numpy.typing.NDArray[numpy.int64], cols: numpy.typing.NDArray[numpy.int64], values: numpy.typing.NDArray[numpy.float32], reduction: Reduction) -> None:
        ...
    def check_network(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> None:
        ...
    def flops_per_step(self, arg0: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex]) -> float:
        ...
    def gradients(self, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], n_threads: typing.SupportsInt | typing.SupportsIndex = 1) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        ...
    def loss(self, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], n_threads: typing.SupportsInt | typing.SupportsIndex = 1) -> float:
        ...
    @property
    def input_dim(self) -> int:
        ...
    @property
    def memory_bytes(self) -> int:
        ...
    @property
    def observed(self) -> int:
        ...
    @property
    def output_dim(self) -> int:
        ...
    @property
    def scale(self) -> float:
        ...
class Compressed32:
    def lift(self, wide_init: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], trained: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], rho: typing.SupportsFloat | typing.SupportsIndex) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        ...
    @property
    def basis(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
        ...
    @property
    def chain(self) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
        ...
    @property
    def exact(self) -> bool:
        ...
    @property
    def lr_scale(self) -> list[float]:
        ...
    @property
    def outer_lr_scale(self) -> float:
        ...
    @property
    def rank(self) -> int:
        ...
    @property
    def scale(self) -> float:
        ...
def build_info() -> dict:
    ...
@typing.overload
def compress(weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], problem: Problem64, rank: typing.SupportsInt | typing.SupportsIndex, outer_lr_scale: typing.SupportsFloat | typing.SupportsIndex = 0.0, method: str = 'auto') -> Compressed64:
    ...
@typing.overload
def compress(weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], problem: Problem32, rank: typing.SupportsInt | typing.SupportsIndex, outer_lr_scale: typing.SupportsFloat | typing.SupportsIndex = 0.0, method: str = 'auto') -> Compressed32:
    ...
def default_threads() -> int:
    """
    Hardware threads (at least 1).
    """
@typing.overload
def end_to_end(weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]]) -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
@typing.overload
def end_to_end(weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]]) -> typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]:
    ...
@typing.overload
def features(weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], X: numpy.typing.NDArray[numpy.float64], activation: Activation = ...) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]]:
    ...
@typing.overload
def features(weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], X: numpy.typing.NDArray[numpy.float32], activation: Activation = ...) -> list[typing.Annotated[numpy.typing.NDArray[numpy.float32], "[m, n]"]]:
    ...
def init_weights(widths: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex], scale: typing.SupportsFloat | typing.SupportsIndex, seed: typing.SupportsInt | typing.SupportsIndex, kind: InitKind, dtype: str = 'float64') -> typing.Any:
    """
    The weights of a network of these widths, drawn by `kind` from `seed`, as arrays of `dtype`.
    """
@typing.overload
def invariant_subspace(weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], problem: Problem64, rank: typing.SupportsInt | typing.SupportsIndex, method: str = 'auto') -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
@typing.overload
def invariant_subspace(weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], problem: Problem32, rank: typing.SupportsInt | typing.SupportsIndex, method: str = 'auto') -> typing.Annotated[numpy.typing.NDArray[numpy.float64], "[m, n]"]:
    ...
@typing.overload
def train(problem: Problem64, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64]], optimizer: OptimizerConfig, options: TrainOptions, activation: Activation = ..., progress: typing.Any = None, resume: TrainState64 | None = None, track: TrackSpec | None = None, theory_right: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]] | None = None, theory_left: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]] | None = None, track_state: TrackState64 | None = None, save_track_state: bool = False) -> TrainResult64:
    """
    Train a network of `weights` (C-contiguous arrays of the problem's dtype, read in place) on `problem`,
    with the GIL released (Ctrl-C stops the run: status interrupted). `progress(done)` is called on this
    thread; `resume` continues a run from its state; `track` records its SVDs (theory_right/left: the
    theory's bases of reference 'theory'; track_state: continue the trackers of an earlier segment;
    save_track_state: return theirs as `svd_state`). Raises ValueError naming the bad argument.
    """
@typing.overload
def train(problem: Problem32, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32]], optimizer: OptimizerConfig, options: TrainOptions, activation: Activation = ..., progress: typing.Any = None, resume: TrainState32 | None = None, track: TrackSpec | None = None, theory_right: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]] | None = None, theory_left: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]] | None = None, track_state: TrackState32 | None = None, save_track_state: bool = False) -> TrainResult32:
    """
    Train a network of `weights` (C-contiguous arrays of the problem's dtype, read in place) on `problem`,
    with the GIL released (Ctrl-C stops the run: status interrupted). `progress(done)` is called on this
    thread; `resume` continues a run from its state; `track` records its SVDs (theory_right/left: the
    theory's bases of reference 'theory'; track_state: continue the trackers of an earlier segment;
    save_track_state: return theirs as `svd_state`). Raises ValueError naming the bad argument.
    """
@typing.overload
def train(problem: SparseCompletion64, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64, "[m, n]"]], optimizer: OptimizerConfig, options: TrainOptions, progress: typing.Any = None) -> TrainResult64:
    """
    Train a linear network of `weights` on a sparse completion problem (GIL released, Ctrl-C stops it);
    the problem's class (SparseCompletion64 or SparseCompletion32) picks the dtype.
    """
@typing.overload
def train(problem: SparseCompletion32, weights: collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32, "[m, n]"]], optimizer: OptimizerConfig, options: TrainOptions, progress: typing.Any = None) -> TrainResult32:
    """
    Train a linear network of `weights` on a sparse completion problem (GIL released, Ctrl-C stops it);
    the problem's class (SparseCompletion64 or SparseCompletion32) picks the dtype.
    """
@typing.overload
def train_batch(specs: collections.abc.Sequence[BatchSpec64], weights: collections.abc.Sequence[collections.abc.Sequence[collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float64]]]], n_threads: typing.SupportsInt | typing.SupportsIndex, progress: typing.Any = None) -> list[BatchRuns64]:
    """
    Run independent jobs (all of this dtype) on a pool of `n_threads` threads (0: all cores), each with
    single-threaded products, with the GIL released. Spec s runs once from each network in weights[s]
    (a list of runs, each a list of layer arrays); one BatchRuns per spec holds their results. A bad
    run raises ValueError starting with 'jobs[k]:' (k counting the runs of all specs in order) before
    any runs.
    """
@typing.overload
def train_batch(specs: collections.abc.Sequence[BatchSpec32], weights: collections.abc.Sequence[collections.abc.Sequence[collections.abc.Sequence[typing.Annotated[numpy.typing.ArrayLike, numpy.float32]]]], n_threads: typing.SupportsInt | typing.SupportsIndex, progress: typing.Any = None) -> list[BatchRuns32]:
    """
    Run independent jobs (all of this dtype) on a pool of `n_threads` threads (0: all cores), each with
    single-threaded products, with the GIL released. Spec s runs once from each network in weights[s]
    (a list of runs, each a list of layer arrays); one BatchRuns per spec holds their results. A bad
    run raises ValueError starting with 'jobs[k]:' (k counting the runs of all specs in order) before
    any runs.
    """
