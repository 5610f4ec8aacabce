"""The two labels with a meaning of their own, defined once.

``real`` is the class of camera photographs in every dataset layout, gallery and
verdict; ``unknown`` is the attribution verdict for an image too far from every
gallery class (aidetect.gallery.knn). Neither can name an enrolled generator
other than real photographs.
"""

REAL = "real"
UNKNOWN = "unknown"
