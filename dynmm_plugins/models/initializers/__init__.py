"""Weight initialisers, registered in mmengine's ``WEIGHT_INITIALIZERS``."""
from .esanet_pretrained import ESANetPretrained

__all__ = ['ESANetPretrained']
