"""The simulation's settings: the `simulation:` config section with what it shares with
`images:`."""

from __future__ import annotations


def simulation_config(simulation: dict, images: dict) -> dict:
    """The `simulation:` config section plus the cell-window shapes shared with `images:`
    (``native_shapes``: layer -> (n_eta, n_phi)); every function of this package takes it."""
    return {**simulation, "native_shapes": images["native_shapes"]}
