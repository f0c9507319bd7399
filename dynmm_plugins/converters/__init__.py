"""Checkpoint converters from other implementations to our configs."""
