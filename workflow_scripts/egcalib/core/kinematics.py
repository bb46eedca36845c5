"""Kinematic constants and helpers shared by the simulation, the skim and the evaluation.

Masses in GeV from the Review of Particle Physics (S. Navas et al., Particle Data Group,
Phys. Rev. D 110 (2024) 030001).
"""

from __future__ import annotations

import numpy as np

ELECTRON_MASS = 0.51099895e-3  # GeV
MUON_MASS = 0.1056583755  # GeV


def wrap_phi(phi):
    """Azimuth (any shape, radians) mapped into [-pi, pi)."""
    return (phi + np.pi) % (2 * np.pi) - np.pi
