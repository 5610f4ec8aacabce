"""What an image file says about its own origin: C2PA, IPTC/XMP, PNG text chunks, EXIF.

:func:`read_provenance` reads, without executing or trusting anything:

* the C2PA manifest store (Content Credentials) through the optional
  ``c2pa-python`` package (``pip install 'aidetect[c2pa]'``): claim generator,
  signer, actions, digital source types, and whether the signature validates
  (remote manifests and OCSP are never fetched);
* the IPTC digital source type and tool names in the XMP packet;
* the PNG text chunks that Stable Diffusion front-ends write (A1111
  ``parameters``, ComfyUI ``prompt``/``workflow``, InvokeAI, NovelAI, Fooocus);
* EXIF ``Software``, ``Make``/``Model``, ``UserComment`` and a few fields
  only cameras write (``MakerNote``, lens, exposure);
* and, in the pixels, the invisible DWT-DCT watermark that Stable Diffusion's
  reference scripts, diffusers' SDXL pipelines and FLUX.1's reference code
  embed, through the optional ``watermark`` extra
  (``pip install 'aidetect[watermark]'``; skipped silently without it).

Every :class:`Finding` names its source and field, keeps the value (capped) and
says what it suggests: ``ai-generated``, ``edited``, ``camera`` or ``unknown``.
Metadata can be stripped or forged: it is evidence to show next to the model's
answer, never a silent override of it. docs/provenance.md lists every field and
the sources for what it is taken to mean.

One module per source, and one for what they share:

* :mod:`~aidetect.provenance.vocabulary`: :class:`Finding`, :class:`Provenance`,
  the suggestions, the software lists and the IPTC digital source types;
* :mod:`~aidetect.provenance.png`, :mod:`~aidetect.provenance.exif`,
  :mod:`~aidetect.provenance.xmp`, :mod:`~aidetect.provenance.c2pa_manifest`,
  :mod:`~aidetect.provenance.watermark`: the sources (with
  :mod:`~aidetect.provenance.parameters`, the generator parameter texts PNG
  and EXIF both carry);
* :mod:`~aidetect.provenance.reader`: :func:`read_provenance`, which runs them.

The package imports PIL and the standard library (and aidetect.labels and
aidetect.console) only; ``c2pa``, OpenCV and numpy are imported on first use. Nothing here raises
for a missing, unreadable or hostile file: the problem is recorded in
:attr:`Provenance.notes` (and :attr:`Provenance.error` when the file itself
could not be read).
"""

from aidetect.labels import UNKNOWN
from aidetect.provenance.c2pa_manifest import TRUST_ANCHORS_ENV, c2pa_available
from aidetect.provenance.reader import read_provenance
from aidetect.provenance.vocabulary import (
    AI_GENERATED,
    CAMERA,
    EDITED,
    MAX_PARSE_BYTES,
    MAX_VALUE_CHARS,
    SUGGESTIONS,
    Finding,
    Provenance,
    classify_software,
    classify_source_type,
)
from aidetect.provenance.watermark import KNOWN_WATERMARKS, watermark_available

__all__ = [
    "AI_GENERATED",
    "EDITED",
    "CAMERA",
    "UNKNOWN",
    "SUGGESTIONS",
    "Finding",
    "Provenance",
    "read_provenance",
    "c2pa_available",
    "classify_software",
    "classify_source_type",
    "TRUST_ANCHORS_ENV",
    "watermark_available",
    "KNOWN_WATERMARKS",
]
