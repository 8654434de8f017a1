"""The latent spec: names, sizes, ranges and defaults of beta, psi and theta (one source of truth)."""
from __future__ import annotations

from dataclasses import dataclass, field

#: Named phenotypes an artist sets, each in [0, 1] (teacher semantics).
PHENOTYPE_NAMES = ("gender", "age", "muscle", "weight", "height", "proportions")


@dataclass(frozen=True)
class LatentSpec:
    """What the UI and the CLI show and validate; built from the bundle's JSON."""

    beta_size: int
    beta_limit: float
    expression_names: tuple[str, ...]
    bone_names: tuple[str, ...]
    phenotype_names: tuple[str, ...] = PHENOTYPE_NAMES
    phenotype_defaults: dict[str, float] = field(default_factory=dict)
    expression_range: tuple[float, float] = (0.0, 1.0)

    @classmethod
    def from_json(cls, data: dict) -> "LatentSpec":
        """Spec from the bundle metadata."""
        return cls(beta_size=int(data["beta_size"]), beta_limit=float(data["beta_limit"]),
                   expression_names=tuple(data["expression_names"]),
                   bone_names=tuple(data["bone_names"]),
                   phenotype_names=tuple(data["phenotype_names"]),
                   phenotype_defaults={k: float(v) for k, v in data["phenotype_defaults"].items()})

    def to_json(self) -> dict:
        """Plain-JSON form stored in the bundle."""
        return {"beta_size": self.beta_size, "beta_limit": self.beta_limit,
                "expression_names": list(self.expression_names), "bone_names": list(self.bone_names),
                "phenotype_names": list(self.phenotype_names),
                "phenotype_defaults": dict(self.phenotype_defaults)}
