"""A VAE defined outside the package, explored through a factory and through ONNX."""
