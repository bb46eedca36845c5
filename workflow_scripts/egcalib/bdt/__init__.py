"""The BDT control: a LightGBM regression on the 16 scalars, trained and applied on the same
splits, targets and weights as the CNNs. Never imports TensorFlow, so its jobs run in the CPU
environment.
"""
