"""MMSeg model components of DynMM: backbone, gate, neck, decode head, loss, segmentor, initialisers."""
from .backbones import *  # noqa: F401,F403
from .decode_heads import *  # noqa: F401,F403
from .gates import *  # noqa: F401,F403
from .initializers import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .segmentors import *  # noqa: F401,F403
