"""Stage infer: a trained CNN's predictions for a chunk of shard files, joined to the objects by
their ids, and the model's ONNX export, checked against Keras with onnxruntime.
"""
