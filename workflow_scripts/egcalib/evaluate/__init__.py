"""Stage evaluate: one model's resolution metrics and figures, the Z-peak fits of its energies
(with the data scale-calibrated in situ and the masses rebuilt with each energy), and the comparison
of all models in the ablation table and summary.
"""
