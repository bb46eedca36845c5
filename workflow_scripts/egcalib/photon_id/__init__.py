"""Photon identification: ATLAS's cut-based loose and tight menus on the shower-shape
variables, the baseline of the photon-ID stage (docs/photon-id.md)."""
