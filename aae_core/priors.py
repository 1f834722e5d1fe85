"""Priors: distributions the latent codes are pushed towards.

A prior is a small object with `sample(n, generator)`; where a density is known it also has `log_prob(z)`.
Mixture and swiss roll can say which component or segment each sample came from
(`sample_with_labels`), which the label-conditioned AAE needs (paper §2.3).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch


class PriorError(ValueError):
    """A prior was asked for something it cannot do (bad parameters, no density, unknown name)."""


class Prior:
    """Base class: a distribution over `dim`-dimensional codes."""

    name: ClassVar[str] = "prior"
    has_density: ClassVar[bool] = True
    selectable: ClassVar[bool] = True  # offered by name for the code z (the CLI's --prior, the app's picker)
    title: str = "prior"  # what it is called in a sentence or a picker
    num_labels: int = 0  # components/segments sample_with_labels can report; 0 when it cannot

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise PriorError(f"prior dimension must be >= 1, got {dim}")
        self.dim = dim

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw `n` codes, shape (n, dim)."""
        return self.sample_with_labels(n, generator)[0]

    def sample_with_labels(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw `n` codes and the component/segment index of each (-1 where the prior has none)."""
        raise NotImplementedError

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log density of each code, shape (n,)."""
        raise PriorError(
            f"the {self.name} prior has no density this tool can evaluate; "
            "models that only need samples (the AAE) can still use it"
        )

    def params(self) -> dict[str, Any]:
        """The constructor arguments, JSON-serialisable, so a checkpoint can rebuild the prior."""
        return {"dim": self.dim}

    def to_config(self) -> dict[str, Any]:
        """What a checkpoint stores to rebuild this prior."""
        return {"name": self.name, "params": self.params()}

    def scale(self) -> float:
        """A typical length of the prior (used to draw it and to pick metric bandwidths)."""
        return 1.0

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


# Samples are drawn on the generator's device, so a CUDA generator yields CUDA samples with no host copy.
def _device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _randn(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=_device(generator))


def _rand(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=_device(generator))


def _randint(high: int, n: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randint(high, (n,), generator=generator, device=_device(generator))


def _no_labels(n: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.full((n,), -1, dtype=torch.long, device=_device(generator))


class GaussianPrior(Prior):
    """Isotropic Gaussian N(0, std² I)."""

    name = "gaussian"
    title = "Gaussian"

    def __init__(self, dim: int = 2, std: float = 1.0) -> None:
        super().__init__(dim)
        if not std > 0:
            raise PriorError(f"gaussian prior std must be > 0, got {std}")
        self.std = float(std)

    def sample_with_labels(self, n, generator=None):
        z = _randn((n, self.dim), generator) * self.std
        return z, _no_labels(n, generator)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        var = self.std**2
        return -0.5 * (z.pow(2).sum(-1) / var + self.dim * math.log(2 * math.pi * var))

    def params(self):
        return {"dim": self.dim, "std": self.std}

    def scale(self) -> float:
        return self.std


class MixturePrior(Prior):
    """K 2-D Gaussians on a circle, each stretched along its radius: the paper's 10-mode prior (Fig. 4)."""

    name = "mixture"

    def __init__(
        self,
        dim: int = 2,
        components: int = 10,
        radius: float = 4.0,
        radial_std: float = 0.7,
        tangential_std: float = 0.3,
    ) -> None:
        super().__init__(dim)
        if dim != 2:
            raise PriorError(f"the mixture prior is 2-D (components on a circle), not {dim}-D: set the latent size 2")
        if components < 1:
            raise PriorError(f"mixture prior needs >= 1 component, got {components}")
        if not (radius >= 0 and radial_std > 0 and tangential_std > 0):
            raise PriorError("mixture prior needs radius >= 0 and positive standard deviations")
        self.components = int(components)
        self.num_labels = self.components
        self.title = f"{self.components} Gaussians on a circle"
        self.radius = float(radius)
        self.radial_std = float(radial_std)
        self.tangential_std = float(tangential_std)
        angles = torch.arange(self.components, dtype=torch.float32) * (2 * math.pi / self.components)
        self._radial = torch.stack([angles.cos(), angles.sin()], dim=1)  # (K, 2) unit vectors
        self._tangential = torch.stack([-angles.sin(), angles.cos()], dim=1)
        self._means = self._radial * self.radius
        self._cache: dict[torch.device, tuple[torch.Tensor, ...]] = {}

    def sample_with_labels(self, n, generator=None):
        labels = _randint(self.components, n, generator)
        return self.sample_given_labels(labels, generator), labels

    def sample_given_labels(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw one code from the given component of each label, shape (n, 2)."""
        means, radial, tangential = self._tables(labels.device)
        eps = _randn((labels.shape[0], 2), generator)
        return (
            means[labels]
            + eps[:, :1] * self.radial_std * radial[labels]
            + eps[:, 1:] * self.tangential_std * tangential[labels]
        )

    def _tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Component means and unit directions on `device` (cached, so the training loop copies nothing)."""
        if device not in self._cache:
            self._cache[device] = tuple(t.to(device) for t in (self._means, self._radial, self._tangential))
        return self._cache[device]

    def component_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """Log density of each code under each component, shape (n, K), without the mixture weight."""
        means, radial, tangential = self._tables(z.device)
        diff = z[:, None, :] - means[None]  # (n, K, 2)
        r = (diff * radial[None]).sum(-1) / self.radial_std
        t = (diff * tangential[None]).sum(-1) / self.tangential_std
        log_norm = math.log(2 * math.pi * self.radial_std * self.tangential_std)
        return -0.5 * (r.pow(2) + t.pow(2)) - log_norm

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(self.component_log_prob(z), dim=1) - math.log(self.components)

    def params(self):
        return {
            "dim": self.dim,
            "components": self.components,
            "radius": self.radius,
            "radial_std": self.radial_std,
            "tangential_std": self.tangential_std,
        }

    def scale(self) -> float:
        return self.radius + 2 * self.radial_std


class SwissRollPrior(Prior):
    """A 2-D swiss roll; it has no density here, which is the point: the AAE needs only samples."""

    name = "swissroll"
    title = "swiss roll"
    has_density = False

    def __init__(self, dim: int = 2, segments: int = 10, turns: float = 1.5, scale: float = 4.0, noise: float = 0.1):
        super().__init__(dim)
        if dim != 2:
            raise PriorError(f"the swiss roll prior is 2-D, not {dim}-D: set the latent size 2")
        if segments < 1 or not turns > 0 or not scale > 0 or noise < 0:
            raise PriorError("swiss roll needs segments >= 1, turns > 0, scale > 0, noise >= 0")
        self.segments = int(segments)
        self.num_labels = self.segments
        self.turns = float(turns)
        self.roll_scale = float(scale)
        self.noise = float(noise)

    def sample_with_labels(self, n, generator=None):
        u = _rand((n,), generator)
        labels = (u * self.segments).long().clamp_max(self.segments - 1)
        return self._position(u, generator), labels

    def sample_given_labels(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw one code from the given segment of the roll for each label, shape (n, 2)."""
        u = (labels.float() + _rand((labels.shape[0],), generator)) / self.segments
        return self._position(u, generator)

    def _position(self, u: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # sqrt(u) spreads samples evenly along the arc rather than bunching them near the centre.
        t = torch.sqrt(u) * (2 * math.pi * self.turns)
        r = self.roll_scale * t / (2 * math.pi * self.turns)
        z = torch.stack([r * t.cos(), r * t.sin()], dim=1)
        return z + _randn((u.shape[0], 2), generator) * self.noise

    def params(self):
        return {
            "dim": self.dim,
            "segments": self.segments,
            "turns": self.turns,
            "scale": self.roll_scale,
            "noise": self.noise,
        }

    def scale(self) -> float:
        return self.roll_scale


class UniformPrior(Prior):
    """Uniform on the box [-half_width, half_width]^dim."""

    name = "uniform"
    title = "uniform box"

    def __init__(self, dim: int = 2, half_width: float = 2.0) -> None:
        super().__init__(dim)
        if not half_width > 0:
            raise PriorError(f"uniform prior half_width must be > 0, got {half_width}")
        self.half_width = float(half_width)

    def sample_with_labels(self, n, generator=None):
        z = (_rand((n, self.dim), generator) * 2 - 1) * self.half_width
        return z, _no_labels(n, generator)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        inside = (z.abs() <= self.half_width).all(-1)
        value = -self.dim * math.log(2 * self.half_width)
        return torch.where(inside, torch.full_like(z[:, 0], value), torch.full_like(z[:, 0], -math.inf))

    def params(self):
        return {"dim": self.dim, "half_width": self.half_width}

    def scale(self) -> float:
        return self.half_width


class CategoricalPrior(Prior):
    """One-hot vectors of `dim` classes (the semi-supervised AAE's prior on y)."""

    name = "categorical"
    title = "categorical"
    selectable = False  # the prior on y, not on the code

    def __init__(self, dim: int = 10) -> None:
        super().__init__(dim)
        self.num_labels = dim

    def sample_with_labels(self, n, generator=None):
        labels = _randint(self.dim, n, generator)
        return torch.nn.functional.one_hot(labels, self.dim).float(), labels

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        one_hot = (z.sum(-1) == 1) & ((z == 0) | (z == 1)).all(-1)
        value = -math.log(self.dim)
        return torch.where(one_hot, torch.full_like(z[:, 0], value), torch.full_like(z[:, 0], -math.inf))


class DrawnPrior(Prior):
    """Points a user drew, 2-D: a sample is a drawn point picked at random, moved by Gaussian noise of std `blur`.

    It is stored as data (its points and blur), so unlike `CallablePrior` a checkpoint rebuilds it. It is a recipe
    for samples, with no density this tool evaluates (like the swiss roll): the AAE can match it, the VAE cannot.
    """

    name = "drawn"
    title = "drawn prior"
    has_density = False
    selectable = False  # it needs points: the app's drawing pad or Python, not a name alone

    MIN_POINTS = 3
    MAX_POINTS = 4096
    MAX_EXTENT = 50.0  # |coordinate| beyond this is no latent range a network reaches; rescale the drawing

    def __init__(self, dim: int = 2, points: Any = (), blur: float = 0.3) -> None:
        super().__init__(dim)
        if dim != 2:
            raise PriorError(f"a drawn prior is 2-D (points on a plane), not {dim}-D: set the latent size 2")
        try:
            table = torch.as_tensor(points, dtype=torch.float32)
        except (TypeError, ValueError) as err:
            raise PriorError(f"a drawn prior's points must be a list of [x, y] pairs: {err}") from None
        if table.numel() == 0:
            raise PriorError("the drawn prior is empty: draw a shape (at least 3 points) or pick a preset")
        if table.ndim != 2 or table.shape[1] != 2:
            raise PriorError(f"a drawn prior's points must be [x, y] pairs, got an array of shape {tuple(table.shape)}")
        if not torch.isfinite(table).all():
            raise PriorError("a drawn prior's points must be finite numbers (no NaN or infinity)")
        distinct = torch.unique(table, dim=0).shape[0]
        if distinct < self.MIN_POINTS:
            raise PriorError(
                f"the drawn prior has {distinct} distinct point{'s' if distinct != 1 else ''}: draw at least "
                f"{self.MIN_POINTS}, so the codes have a shape to take"
            )
        if table.shape[0] > self.MAX_POINTS:
            raise PriorError(f"the drawn prior has {table.shape[0]} points; at most {self.MAX_POINTS} are kept")
        extent = float(table.abs().max())
        if extent > self.MAX_EXTENT:
            raise PriorError(
                f"the drawn prior reaches {extent:.3g}, far outside a latent range (|z| <= {self.MAX_EXTENT:g}): "
                "scale the drawing down (DrawnPrior.fit(points, half_width) does it)"
            )
        if not (0 < blur <= self.MAX_EXTENT):
            raise PriorError(f"a drawn prior's blur must be > 0 and <= {self.MAX_EXTENT:g}, got {blur}")
        self.points = table
        self.blur = float(blur)
        self._cache: dict[torch.device, torch.Tensor] = {}

    @staticmethod
    def fit(points: Any, half_width: float = 4.0) -> list[list[float]]:
        """The points moved and scaled uniformly so they fill [-half_width, half_width]² (centred, aspect kept)."""
        table = torch.as_tensor(points, dtype=torch.float64).reshape(-1, 2)
        if table.numel() == 0:
            return []
        low, high = table.min(0).values, table.max(0).values
        span = float((high - low).max())
        scale = 2 * half_width / span if span > 0 else 1.0
        return ((table - (low + high) / 2) * scale).tolist()

    def _points(self, device: torch.device) -> torch.Tensor:
        if device not in self._cache:
            self._cache[device] = self.points.to(device)
        return self._cache[device]

    def sample_with_labels(self, n, generator=None):
        points = self._points(_device(generator))
        picks = _randint(points.shape[0], n, generator)
        return points[picks] + _randn((n, 2), generator) * self.blur, _no_labels(n, generator)

    def params(self):
        return {"dim": self.dim, "points": self.points.tolist(), "blur": self.blur}

    def scale(self) -> float:
        return float(self.points.abs().max()) + 2 * self.blur


class CallablePrior(Prior):
    """Any user function that returns samples: `fn(n)` or `fn(n, generator)` → tensor (n, dim)."""

    name = "custom"
    title = "custom prior"
    has_density = False

    def __init__(self, fn: Callable[..., torch.Tensor], dim: int, label: str = "custom") -> None:
        super().__init__(dim)
        self.fn = fn
        self.label = label

    def sample_with_labels(self, n, generator=None):
        try:
            z = self.fn(n, generator)
        except TypeError:
            z = self.fn(n)
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.shape != (n, self.dim):
            raise PriorError(f"custom prior returned shape {tuple(z.shape)}, expected ({n}, {self.dim})")
        return z, _no_labels(n, generator)

    def params(self):
        return {"dim": self.dim, "label": self.label}


PRIORS: dict[str, type[Prior]] = {
    cls.name: cls for cls in (GaussianPrior, MixturePrior, SwissRollPrior, UniformPrior, CategoricalPrior, DrawnPrior)
}


def selectable_priors() -> tuple[str, ...]:
    """The names of the priors a user can pick for the code z."""
    return tuple(name for name, cls in PRIORS.items() if cls.selectable)


def make_prior(name: str, dim: int, **params: Any) -> Prior:
    """Build a registered prior by name; unknown names list the valid ones."""
    if name not in PRIORS:
        raise PriorError(f"unknown prior {name!r}; choose one of: {', '.join(PRIORS)}")
    try:
        return PRIORS[name](dim=dim, **params)
    except TypeError as err:
        raise PriorError(f"bad parameters for the {name} prior: {err}") from None


def prior_from_config(config: dict[str, Any]) -> Prior:
    """Rebuild a prior from `Prior.to_config()` output (as stored in a checkpoint)."""
    name = config.get("name")
    if name == CallablePrior.name:
        label = str(config.get("params", {}).get("label", "custom"))[:80]
        raise PriorError(
            f"this checkpoint was trained with a custom prior ({label!r}), a Python function that a checkpoint "
            "cannot store, so it cannot be rebuilt: the model still encodes and decodes, but prior samples, the "
            "prior's picture and the metrics that compare codes with the prior are unavailable (train with a named "
            "prior, --prior, to have them)"
        )
    params = dict(config.get("params", {}))
    dim = params.pop("dim", 2)
    return make_prior(str(name), dim, **params)
