"""Shared by every stage: the ntuple contract (logical branches, units, shapes), rule params in
canonical form and code versions, atomic outputs and logs, input-file identity, inference chunks,
model specs resolved from the config, ROOT tree writing, basic kinematics and the shower-shape
variables as ATLAS defines them. No physics choice and no ML here.
"""
