"""Evaluation: the test loop, routing statistics, the noise protocol and robustness sweeps."""
