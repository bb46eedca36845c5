"""Stage simulate: the embedded default input, a toy ATLAS-like EM calorimeter.

Generates Z -> ee, Z -> mumugamma and single-electron events, simulates the showers, the inner
detector, noise and pile-up with an MC and a data detector, derives the standard calibration (an
MVA as ATLAS's, and the older binned one) from the simulator's own single particles, and writes
contract ntuples (``events.simulate_file``) and the simulation's validation.
"""
