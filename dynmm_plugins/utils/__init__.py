"""Generic helpers: the error convention, command-line helpers, atomic writes and JSON reading, progress bars, state-dict comparison."""
