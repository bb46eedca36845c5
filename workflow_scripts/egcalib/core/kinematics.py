"""Kinematic constants and helpers shared by the simulation, the skim and the evaluation.

Masses in GeV from the Review of Particle Physics (S. Navas et al., Particle Data Group,
Phys. Rev. D 110 (2024) 030001).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

if TYPE_CHECKING:
    import awkward as ak
    import vector

ELECTRON_MASS = 0.51099895e-3  # GeV
MUON_MASS = 0.1056583755  # GeV
PI0_MASS = 0.1349768  # GeV
ETA_MASS = 0.547862  # GeV
PI_CHARGED_MASS = 0.13957039  # GeV


def wrap_phi(phi: Any) -> Any:
    """Azimuth (any shape, radians) mapped into [-pi, pi); numpy or awkward, as ``phi`` is."""
    return (phi + np.pi) % (2 * np.pi) - np.pi


def massless_momenta(
    energy: ArrayLike | ak.Array,
    eta: ArrayLike | ak.Array,
    phi: ArrayLike | ak.Array,
    dtype: DTypeLike | None = None,
) -> vector.MomentumNumpy4D | ak.Array:
    """Four-vectors of massless objects from their energy [GeV], pseudorapidity and azimuth [rad]:
    pt = energy / cosh(eta) [GeV], mass 0 (electrons and photons at the Z scale).

    Two kinds of input, the four-vectors of ``vector`` either way:

    - awkward arrays (any layout, jagged (n_events, var) in the skim) give awkward
      ``Momentum4D`` records of that layout with fields pt, eta, phi and mass; each field keeps
      its input's type (mass: zeros of ``energy``'s);
    - anything else (numpy arrays, pandas Series) must be 1-D of one length (n,) and gives a
      ``vector.MomentumNumpy4D`` (n,); pt, eta and phi are cast to ``dtype`` (None keeps their
      types), the mass is float64 zeros.

    pt is computed in the type numpy (or awkward) gives ``energy / cosh(eta)`` before any cast:
    cosh in ``eta``'s type, so float32 eta with float64 energies gives float32 cosh, divided in
    float64. The energy's sign is kept: callers decide what a negative energy means.

    Raises ValueError where the inputs do not line up (numpy: not 1-D or not one length;
    awkward: ``ak.zip`` cannot broadcast them) or ``dtype`` is given with awkward inputs.
    """
    import awkward as ak
    import vector

    if any(isinstance(value, ak.Array) for value in (energy, eta, phi)):
        if dtype is not None:
            raise ValueError("massless_momenta: dtype applies to numpy inputs only")
        vector.register_awkward()  # idempotent: Momentum4D records get their methods
        return ak.zip(
            {
                "pt": energy / np.cosh(eta),
                "eta": eta,
                "phi": phi,
                "mass": ak.zeros_like(energy),
            },
            with_name="Momentum4D",
        )
    energy, eta, phi = np.asarray(energy), np.asarray(eta), np.asarray(phi)
    if energy.ndim != 1 or eta.shape != energy.shape or phi.shape != energy.shape:
        raise ValueError(
            "massless_momenta: energy, eta and phi must be 1-D of one length, not shapes "
            f"{energy.shape}, {eta.shape} and {phi.shape}"
        )
    return vector.array(
        {
            "pt": np.asarray(energy / np.cosh(eta), dtype),
            "eta": np.asarray(eta, dtype),
            "phi": np.asarray(phi, dtype),
            "M": np.zeros(len(energy)),
        }
    )
