"""ONNX / TorchScript export (the optional extra ``export``: onnx and onnxruntime)."""
