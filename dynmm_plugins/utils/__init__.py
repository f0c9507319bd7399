"""Utilities shared by the tools: checkpoint conversion, noise, reports."""
