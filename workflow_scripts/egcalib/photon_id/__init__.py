"""Photon identification: ATLAS's cut-based loose and tight menus on the shower-shape
variables, the baseline of the photon-ID stage, the shower-shape BDT control, and the metrics and
figures that compare them (docs/photon-id.md)."""
