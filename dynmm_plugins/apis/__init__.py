"""Entry points for users: build/load a model from config + checkpoint, in-process training."""
