"""`dln.config`: one training run as a frozen, serialisable value.

A :class:`RunConfig` holds everything that fixes a run - the problem and how its data is drawn, the
network and its init, the optimiser and its stopping rules, and the seeds - so that the run can be
rebuilt bit for bit anywhere (another process, another machine) from its JSON or TOML text.
:func:`grid` expands a base config over a cartesian product of field values and :func:`spawn_seeds`
gives every config of a sweep its own seeds from one sweep seed.

Data conventions (SCIENCE.md section 6): the target ``Phi`` is
:func:`dln.experiments.low_rank_target` ``(d_out, d_in, rank, data_seed)``; the completion mask and the
regression inputs come from their own streams of the same ``data_seed``
(``numpy.random.default_rng([data_seed, k])``, ``k = 1`` for ``X``, ``k = 2`` for the mask).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import numbers
import threading
import weakref
from typing import AbstractSet, Any, Iterable, Mapping, Optional, Sequence, Sized

import numpy as np

from . import _memory
from ._checks import as_dtype, choice, integer
from ._checks import finite as _finite
from .network import ACTIVATIONS, Network
from .problems import REDUCTIONS, Completion, Factorization, Problem, Regression, low_rank_target
from .training.prepared import OPTIMIZERS

__all__ = ["RunConfig", "grid", "spawn_seeds"]

PROBLEMS = ("factorization", "completion", "regression")
INITS = ("orthogonal", "gaussian", "uniform")
# Seeds are kept to 63 bits: TOML integers are signed 64-bit, so every seed survives a TOML file.
MAX_SEED = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that fixes one training run.

    Problem
    -------
    problem : {"factorization", "completion", "regression"}
    d_out, d_in : int
        Shape of the target ``Phi`` (and of the end-to-end map).
    rank : int
        Rank of ``Phi``, at most ``min(d_out, d_in)``.
    n_samples : int, regression only (required there)
        Number of samples ``N``. ``X`` is ``d_in x N`` standard Gaussian divided by ``sqrt(N)``
        (so ``E[X X^T] = I``), ``Y = Phi X``.
    whiten : bool, regression only
        Replace ``X`` by the orthonormal-row matrix of its SVD, so ``X X^T = I`` exactly (the setting of
        the law of parsimony); needs ``n_samples >= d_in``.
    observed : float in (0, 1], completion only (required there)
        Probability that an entry of ``Phi`` is observed (Bernoulli mask).
    reduction : {"mean", "sum"}
        Loss unit (``mean``: the published experiments').
    data_seed : int
        Seed of ``Phi``, the mask and ``X``.

    Network
    -------
    depth : int
        Number of layers L.
    width : int, optional
        Width of every hidden layer (default ``max(d_out, d_in)``).
    hidden : tuple of int, optional
        Explicit hidden widths ``(n_1, ..., n_{L-1})`` instead of ``width``; ``depth`` must then be
        ``len(hidden) + 1``.
    init : {"orthogonal", "gaussian", "uniform"}
    scale : float
        Init scale ``eps`` (>= 0).
    dtype : {"float64", "float32"}
    activation : {"linear", "relu", "leaky_relu", "tanh"}
        Elementwise activation between layers (:class:`dln.Network`); default ``linear``.
    negative_slope : float
        Slope of ``leaky_relu`` for negative inputs (finite, >= 0; default 0.01).

    Training (the keyword arguments of :func:`dln.train`)
    -------------------------------------------------------
    optimizer, lr, steps, tol, record_every, momentum, betas, eps, decay, lr_scale

    seed : int
        Init seed.

    Fields that a problem kind does not use (``n_samples``/``whiten`` outside regression,
    ``observed`` outside completion) must keep their defaults, so that one run has one config.
    Values are checked and normalised on construction (ints to ``int``, reals to ``float``, sequences to
    tuples); a bad value raises ``ValueError`` or ``TypeError`` whose message starts with the field name.
    Seeds are integers in ``[0, 2**63 - 1]``.
    """

    # problem
    problem: str = "factorization"
    d_out: int = 30
    d_in: int = 30
    rank: int = 3
    n_samples: Optional[int] = None
    whiten: bool = False
    observed: Optional[float] = None
    reduction: str = "mean"
    data_seed: int = 0
    # network
    depth: int = 3
    width: Optional[int] = None
    hidden: Optional[tuple[int, ...]] = None
    init: str = "orthogonal"
    scale: float = 1.0
    dtype: str = "float64"
    activation: str = "linear"
    negative_slope: float = 0.01
    # training
    optimizer: str = "gd"
    lr: float = 1.0
    steps: int = 100
    tol: Optional[float] = None
    record_every: int = 1
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    decay: float = 0.9
    lr_scale: Optional[tuple[float, ...]] = None
    # init seed
    seed: int = 0

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen dataclass
        set_("problem", choice(self.problem, "problem", PROBLEMS))
        set_("d_out", integer(self.d_out, "d_out", minimum=1, maximum=2**31 - 1))
        set_("d_in", integer(self.d_in, "d_in", minimum=1, maximum=2**31 - 1))
        set_("rank", integer(self.rank, "rank", minimum=1))
        if self.rank > min(self.d_out, self.d_in):
            raise ValueError(f"rank: must be <= min(d_out, d_in) = {min(self.d_out, self.d_in)}, got {self.rank}")
        if self.problem == "regression":
            if self.n_samples is None:
                raise ValueError("n_samples: required for problem='regression'")
            set_("n_samples", integer(self.n_samples, "n_samples", minimum=1, maximum=2**31 - 1))
            set_("whiten", _bool(self.whiten, "whiten"))
            if self.whiten and self.n_samples < self.d_in:
                raise ValueError(f"n_samples: whiten=True needs n_samples >= d_in = {self.d_in}, got {self.n_samples}")
        else:
            _unused(self, "n_samples", None)
            _unused(self, "whiten", False)
            set_("whiten", False)
        if self.problem == "completion":
            if self.observed is None:
                raise ValueError("observed: required for problem='completion' (fraction of observed entries)")
            set_("observed", _finite(self.observed, "observed"))
            if not 0 < self.observed <= 1:
                raise ValueError(f"observed: must be in (0, 1], got {self.observed!r}")
        else:
            _unused(self, "observed", None)
        set_("reduction", choice(self.reduction, "reduction", REDUCTIONS))
        set_("data_seed", integer(self.data_seed, "data_seed", minimum=0, maximum=MAX_SEED))

        set_("depth", integer(self.depth, "depth", minimum=1, maximum=100_000))
        if self.hidden is not None:
            if self.width is not None:
                raise ValueError("width: give either width or hidden, not both")
            set_("hidden", tuple(integer(w, f"hidden[{i}]", minimum=1, maximum=2**31 - 1)
                                 for i, w in enumerate(_sequence(self.hidden, "hidden"))))
            if self.depth != len(self.hidden) + 1:
                raise ValueError(f"depth: hidden has {len(self.hidden)} widths, so depth must be "
                                 f"{len(self.hidden) + 1}, got {self.depth}")
        elif self.width is not None:
            set_("width", integer(self.width, "width", minimum=1, maximum=2**31 - 1))
        set_("init", choice(self.init, "init", INITS))
        set_("scale", _finite(self.scale, "scale"))
        if self.scale < 0:
            raise ValueError(f"scale: must be >= 0, got {self.scale!r}")
        if isinstance(self.dtype, str) and self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype: expected 'float64' or 'float32', got {self.dtype!r}")
        set_("dtype", as_dtype(self.dtype, "dtype").name)
        set_("activation", choice(self.activation, "activation", ACTIVATIONS))
        set_("negative_slope", _finite(self.negative_slope, "negative_slope"))
        if self.negative_slope < 0:
            raise ValueError(f"negative_slope: must be >= 0, got {self.negative_slope!r}")

        set_("optimizer", choice(self.optimizer, "optimizer", OPTIMIZERS))
        set_("lr", _finite(self.lr, "lr"))
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr!r}")
        set_("steps", integer(self.steps, "steps", minimum=0))
        if self.tol is not None:
            set_("tol", _finite(self.tol, "tol"))
            if self.tol < 0:
                raise ValueError(f"tol: must be >= 0, got {self.tol!r}")
        set_("record_every", integer(self.record_every, "record_every", minimum=1))
        set_("momentum", _finite(self.momentum, "momentum"))
        betas = _sequence(self.betas, "betas")
        if len(betas) != 2:
            raise ValueError(f"betas: expected a pair (beta1, beta2), got {self.betas!r}")
        set_("betas", tuple(_finite(b, f"betas[{i}]") for i, b in enumerate(betas)))
        set_("eps", _finite(self.eps, "eps"))
        if self.eps < 0:
            raise ValueError(f"eps: must be >= 0, got {self.eps!r}")
        set_("decay", _finite(self.decay, "decay"))
        if self.lr_scale is not None:
            scales = tuple(_finite(s, f"lr_scale[{i}]") for i, s in enumerate(_sequence(self.lr_scale, "lr_scale")))
            if len(scales) != self.depth:
                raise ValueError(f"lr_scale: needs one factor per layer ({self.depth}), got {len(scales)}")
            set_("lr_scale", scales)
        set_("seed", integer(self.seed, "seed", minimum=0, maximum=MAX_SEED))

    # --- what the config builds ----------------------------------------------------------------------

    @property
    def widths(self) -> list[int]:
        """``[d_in, n_1, ..., n_{L-1}, d_out]``."""
        if self.hidden is not None:
            inner = list(self.hidden)
        else:
            inner = [self.width if self.width is not None else max(self.d_out, self.d_in)] * (self.depth - 1)
        return [self.d_in, *inner, self.d_out]

    def train_kwargs(self) -> dict:
        """The keyword arguments of :func:`dln.train` (and of a :func:`dln.train_batch` job)."""
        return dict(lr=self.lr, steps=self.steps, optimizer=self.optimizer, tol=self.tol,
                    record_every=self.record_every, momentum=self.momentum, betas=self.betas, eps=self.eps,
                    decay=self.decay, lr_scale=None if self.lr_scale is None else list(self.lr_scale))

    def build_network(self) -> Network:
        """The initial network (C++ init from ``seed``)."""
        return getattr(Network, self.init)(self.widths, scale=self.scale, seed=self.seed, dtype=self.dtype,
                                           activation=self.activation, negative_slope=self.negative_slope)

    def build_problem(self) -> Problem:
        """The problem. Configs that draw the same data share one problem object (and its arrays) for
        as long as any of them holds it; its arrays are read-only."""
        key = tuple(getattr(self, name) for name in _PROBLEM_FIELDS)
        with _PROBLEMS_LOCK:
            problem = _PROBLEMS.get(key)
        if problem is None:
            problem = _make_problem(**dict(zip(_PROBLEM_FIELDS, key)))
            with _PROBLEMS_LOCK:
                problem = _PROBLEMS.setdefault(key, problem)
        return problem

    def build(self) -> tuple[Network, Problem, dict]:
        """``(network, problem, train_kwargs)``: ``dln.train(net, problem, **kwargs)`` runs it, and the
        triple is one job of :func:`dln.train_batch`."""
        return self.build_network(), self.build_problem(), self.train_kwargs()

    # --- serialisation -------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """Every field, tuples as lists (JSON types)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "RunConfig":
        """Inverse of :meth:`to_dict`; missing fields take their defaults, unknown ones raise ValueError."""
        if not isinstance(data, Mapping):
            raise TypeError(f"config: expected a mapping of field names to values, got {type(data).__name__}")
        unknown = [k for k in data if k not in _FIELDS]
        if unknown:
            raise ValueError(f"{unknown[0]}: not a RunConfig field (fields: {', '.join(_FIELDS)})")
        return cls(**data)

    def to_json(self, indent: Optional[int] = None) -> str:
        """JSON text of :meth:`to_dict` (floats written by ``repr``: exact round trip)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        """Inverse of :meth:`to_json`; text that is not JSON raises ValueError naming ``text``."""
        if not isinstance(text, (str, bytes, bytearray)):
            raise TypeError(f"text: expected JSON text (str), got {type(text).__name__}")
        try:
            data = json.loads(text)
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise ValueError(f"text: not valid JSON ({exc})") from None
        return cls.from_dict(data)

    def to_toml(self) -> str:
        """TOML text, one ``key = value`` per field, grouped by comments; fields that are ``None`` are
        left out (they are the defaults)."""
        lines = []
        for group, names in _GROUPS:
            lines.append(f"# {group}")
            lines += [f"{name} = {_toml_value(getattr(self, name))}" for name in names
                      if getattr(self, name) is not None]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str) -> "RunConfig":
        """Read :meth:`to_toml`'s format (``tomllib``, or ``tomli`` before Python 3.11); text that is not
        TOML raises ValueError naming ``text``."""
        try:
            import tomllib
        except ModuleNotFoundError:  # Python < 3.11
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError:
                raise ImportError("from_toml: needs Python >= 3.11 or the tomli package (pip install tomli)") from None
        if not isinstance(text, str):
            raise TypeError(f"text: expected TOML text (str), got {type(text).__name__}")
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"text: not valid TOML ({exc})") from None
        return cls.from_dict(data)


_FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
_PROBLEM_FIELDS = ("problem", "d_out", "d_in", "rank", "n_samples", "whiten", "observed", "reduction", "data_seed")
_GROUPS = (
    ("problem", _PROBLEM_FIELDS),
    ("network", ("depth", "width", "hidden", "init", "scale", "dtype", "activation", "negative_slope")),
    ("training", ("optimizer", "lr", "steps", "tol", "record_every", "momentum", "betas", "eps", "decay", "lr_scale")),
    ("init seed", ("seed",)),
)
assert sorted(n for _, names in _GROUPS for n in names) == sorted(_FIELDS)

# Memory of one RunConfig (its object, __dict__ and the list slot), an upper bound for grid's check.
_CONFIG_BYTES = 1024.0

# Problems by their data fields. Weak values: configs built together (a chunk of a sweep) share one
# problem while their jobs hold it, and the arrays are freed when the last job goes.
_PROBLEMS: "weakref.WeakValueDictionary[tuple, Problem]" = weakref.WeakValueDictionary()
_PROBLEMS_LOCK = threading.Lock()


def _make_problem(problem: str, d_out: int, d_in: int, rank: int, n_samples: Optional[int], whiten: bool,
                  observed: Optional[float], reduction: str, data_seed: int) -> Problem:
    phi = _read_only(low_rank_target(d_out, d_in, rank, data_seed))
    if problem == "factorization":
        return Factorization(phi, reduction=reduction)
    if problem == "completion":
        assert observed is not None
        draw = np.random.default_rng([data_seed, 2]).random((d_out, d_in))
        return Completion(phi, _read_only((draw < observed).astype(np.float64)), reduction=reduction)
    assert n_samples is not None
    # X, its SVD when whitened, and Y, in float64 (the SVD's factors are at most X's size each)
    _memory.require(8.0 * float(n_samples) * (4.0 * d_in + d_out), "n_samples",
                    f"regression data of {n_samples} samples (d_in = {d_in}, d_out = {d_out})")
    g = np.random.default_rng([data_seed, 1]).standard_normal((d_in, n_samples))
    if whiten:
        u, _, vt = np.linalg.svd(g, full_matrices=False)
        x = u @ vt
    else:
        x = g / math.sqrt(n_samples)
    return Regression(_read_only(x), _read_only(phi @ x), reduction=reduction)


def _read_only(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    a.flags.writeable = False
    return a


# --- grids and seeds ----------------------------------------------------------------------------------


def grid(base: RunConfig, **axes: Iterable[Any]) -> list[RunConfig]:
    """Every combination of the given field values, applied to ``base`` with ``dataclasses.replace``.

    ``grid(base, lr=[1, 10], depth=[2, 3])`` gives 4 configs; the first axis varies slowest (the
    order of ``itertools.product``). Each axis is a list of values of one field (a tuple-valued field
    such as ``hidden`` takes a list of tuples). Unknown fields, empty or string axes and invalid
    combinations raise ``ValueError``/``TypeError`` naming the field; a grid too large for the memory
    (about 1 kB per config) raises ``MemoryError`` naming the axis that makes it so, before it is built.
    """
    if not isinstance(base, RunConfig):
        raise TypeError(f"base: expected a RunConfig, got {type(base).__name__}")
    values = []
    size = 1.0
    for name, axis in axes.items():
        if name not in _FIELDS:
            raise ValueError(f"{name}: not a RunConfig field (fields: {', '.join(_FIELDS)})")
        if isinstance(axis, (str, bytes, Mapping)) or not isinstance(axis, Iterable):
            raise TypeError(f"{name}: expected a list of values to grid over, got {type(axis).__name__} {axis!r}")
        if isinstance(axis, Sized):  # the size is known before the axis or the product is built
            size *= float(len(axis))
            _memory.require(_CONFIG_BYTES * size, name, f"a grid of {size:.0f} configs")
        axis = list(axis)
        if not axis:
            raise ValueError(f"{name}: empty list of values (the grid would be empty)")
        values.append(axis)
    names = list(axes)
    return [dataclasses.replace(base, **dict(zip(names, combo))) for combo in itertools.product(*values)]


def spawn_seeds(configs: Sequence[RunConfig], seed: int, data_seed: bool = False) -> list[RunConfig]:
    """Give every config its own init seed (and data seed if ``data_seed``) from one sweep seed.

    Config ``i`` gets words of ``numpy.random.SeedSequence(seed).spawn(len(configs))[i]``
    (``generate_state(2, uint64)``, each word shifted right by one bit to fit TOML's signed 64-bit
    integers): its ``seed`` from the first word, its ``data_seed`` from the second. The same ``seed``
    and list length give the same seeds, and the seeds are recorded in the returned configs. Configs
    are otherwise unchanged.

    To share data (or inits) between the configs of a trial - e.g. the same problem at every learning
    rate - spawn seeds first and grid afterwards::

        trials = spawn_seeds([base] * 5, seed=2024, data_seed=True)
        configs = [c for t in trials for c in grid(t, lr=[10, 100, 1000])]
    """
    if isinstance(configs, RunConfig) or not isinstance(configs, Iterable):
        raise TypeError(f"configs: expected a list of RunConfig, got {type(configs).__name__}")
    configs = list(configs)
    for i, c in enumerate(configs):
        if not isinstance(c, RunConfig):
            raise TypeError(f"configs[{i}]: expected a RunConfig, got {type(c).__name__}")
    seed = integer(seed, "seed", minimum=0)
    data_seed = _bool(data_seed, "data_seed")
    out = []
    for c, child in zip(configs, np.random.SeedSequence(seed).spawn(len(configs))):
        # generate_state(2)[0] == generate_state(1)[0]: asking for data seeds leaves init seeds as they are.
        words = [int(w) >> 1 for w in child.generate_state(2, dtype=np.uint64)]
        changes: dict[str, Any] = {"seed": words[0]}
        if data_seed:
            changes["data_seed"] = words[1]
        out.append(dataclasses.replace(c, **changes))
    return out


# --- helpers ------------------------------------------------------------------------------------------


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _sequence(value: Any, name: str) -> tuple:
    # a set has no order: its tuple would not be the sequence the caller meant
    if isinstance(value, (str, bytes, Mapping, AbstractSet)) or not isinstance(value, Iterable):
        raise TypeError(f"{name}: expected a sequence, got {type(value).__name__} {value!r}")
    return tuple(value)


def _unused(config: RunConfig, name: str, default: Any) -> None:
    if getattr(config, name) is not default and getattr(config, name) != default:
        raise ValueError(f"{name}: only used by problem={'completion' if name == 'observed' else 'regression'}"
                         f"; must be {default!r} for problem={config.problem!r}, got {getattr(config, name)!r}")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)  # finite (checked); repr is the shortest exact form and valid TOML
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # the field values are plain identifiers
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
