"""The k-NN gallery: reference embeddings with labels, provenance and a change log.

Modules: ``storage`` (the :class:`Gallery` and its change log), ``npz`` (the file format's
reader and writer), ``search`` (the one exact top-k engine), ``locking`` (read-modify-write
under a lock), ``knn`` (the vote, k and the unknown rule), ``classifier`` (a search turned
into the verdict record that ``detect`` and ``attribute`` print).

A gallery is one ``.npz`` file (a zip of ``.npy`` arrays, no pickle anywhere):

==================  ===============  =====================================================
key                 dtype / shape    content
==================  ===============  =====================================================
``meta``            uint8 [B]        UTF-8 JSON: format, schema version, model fingerprint,
                                     embedding size, row count, class names and counts,
                                     content and path hashes, the change log
``embeddings``      float16 [N, D]   L2-normalised embeddings, one row per reference image
``label_codes``     int32 [N]        index into ``meta["class_names"]`` (sorted names)
``sha256``          uint8 [N, 32]    SHA-256 digest of each source file
``path_blob``       uint8 [P]        source paths, UTF-8 (surrogate-escaped), concatenated
``path_offsets``    int64 [N + 1]    row i's path is ``path_blob[offsets[i]:offsets[i+1]]``
==================  ===============  =====================================================

The archive is stored uncompressed so ``load(mmap=True)`` can map the
embeddings straight from the file. Writes go through
:func:`aidetect.fileio.atomic_writer`; read-modify-write cycles (``enroll``,
``gallery remove``) go through :func:`update_gallery`, which holds a lock beside
the file so concurrent enrollments all land.

No torch here: the gallery is plain numpy so it can be inspected and searched
without the model stack.
"""

from aidetect.gallery.locking import update_gallery
from aidetect.gallery.storage import GALLERY_FORMAT, GALLERY_SCHEMA_VERSION, Gallery

__all__ = ["GALLERY_FORMAT", "GALLERY_SCHEMA_VERSION", "Gallery", "update_gallery"]
