"""aidetect: detect AI-generated images and attribute them to their generator.

The heavy parts (torch, torchvision) are imported lazily by the modules that
need them, so ``import aidetect`` and ``aidetect --help`` stay fast.
"""

__version__ = "0.1.0"
