"""Showers of the toy calorimeter for tests: simulate_showers in a config's MC detector."""

from __future__ import annotations

import numpy as np

from egcalib.simulation.calorimeter import Showers, simulate_showers


def mc_showers(sim: dict, energy, eta, phi, charge, shower_type: int, mu: float, rng) -> Showers:
    """simulate_showers of ``len(energy)`` objects of one ``shower_type`` at pile-up ``mu`` in
    ``sim``'s MC detector, with the effects ``sim`` switches on."""
    n = len(energy)
    return simulate_showers(
        energy,
        eta,
        phi,
        charge,
        np.full(n, shower_type),
        np.full(n, mu),
        sim,
        sim["detectors"]["mc"],
        rng,
    )
