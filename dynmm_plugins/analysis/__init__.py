"""Cost analysis: latency benchmarking and FLOP comparisons with the reference tables."""
