"""Segmentors of the DynMM plugin."""
from .dynmm_encoder_decoder import GATE_MODES, DynMMEncoderDecoder

__all__ = ["GATE_MODES", "DynMMEncoderDecoder"]
