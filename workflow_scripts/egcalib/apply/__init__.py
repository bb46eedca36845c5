"""Stage apply: the exported calibrations (model.onnx) on any ntuple, written back as friend
trees of calibrated energies. Reads ntuples as the skim does and runs onnxruntime; never imports
TensorFlow."""
