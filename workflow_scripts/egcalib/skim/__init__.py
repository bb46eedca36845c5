"""Stage skim: one ntuple in, one table of selected objects out.

Maps logical branch names to the ntuple's branches and converts them to their contract types,
streams the file, checks units and collection sizes, drops non-finite objects and repeated
events, applies the Z -> ee, Z -> mumugamma and single-particle selections with truth matching,
computes the seed's scalars and the nearest tracks, and writes the objects and the cutflow.
"""
