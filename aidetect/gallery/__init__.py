"""The k-NN gallery: reference embeddings with labels, provenance and a change log.

Modules: ``storage`` (the :class:`Gallery` and its change log), ``npz`` (the file format's
reader and writer), ``search`` (the one exact top-k engine), ``locking`` (read-modify-write
under a lock), ``knn`` (the vote, k and the unknown rule), ``classifier`` (a search turned
into the verdict record that ``detect`` and ``attribute`` print), ``thumbnails`` (the small
lossless thumbnails a gallery may keep per row).

A gallery is one ``.npz`` file (a zip of ``.npy`` arrays, no pickle anywhere):

==================  ===============  =====================================================
key                 dtype / shape    content
==================  ===============  =====================================================
``meta``            uint8 [B]        UTF-8 JSON: format, schema version, model fingerprint,
                                     embedding size, row count, class names and counts,
                                     source-root labels (``roots``), the hashes (content,
                                     paths, extras, log), the change log
``embeddings``      float16 [N, D]   L2-normalised embeddings, one row per reference image
``label_codes``     int32 [N]        index into ``meta["class_names"]`` (sorted names)
``sha256``          uint8 [N, 32]    SHA-256 digest of each source file
``path_blob``       uint8 [P]        display paths, UTF-8 (surrogate-escaped), concatenated:
                                     ``<root label>/<relative path>`` for rows added with
                                     a source root, else the path as given
``path_offsets``    int64 [N + 1]    row i's path is ``path_blob[offsets[i]:offsets[i+1]]``
``enrollment``      uint32 [N]       optional: the enrollment that added each row (0: none,
                                     rows written before ids); shown as 8 hex characters
``root_codes``      int32 [N]        optional: index into ``meta["roots"]``, -1 for none
``thumbnail_blob``  uint8 [T]        optional: PNG thumbnails, concatenated
``thumbnail_offsets`` int64 [N + 1]  optional: row i's PNG is ``blob[offsets[i]:offsets[i+1]]``
                                     (an empty span: no thumbnail)
==================  ===============  =====================================================

The optional members are written only when they hold something; the schema version
stays 1 because a reader that predates them ignores them (and the new metadata keys),
so it still reads a gallery written now. Hashes: ``content_sha256`` (what decides a
verdict: model fingerprint, size, embeddings, labels, digests; its first 16 characters
are the gallery's fingerprint, unchanged by these additions), ``paths_sha256``,
``extras_sha256`` (enrollment ids, source roots, thumbnails) and ``log_sha256`` (the
change log). Loading checks every hash present, and refuses embeddings that are not
finite unit vectors.

The archive is stored uncompressed so ``load(mmap=True)`` can map the
embeddings straight from the file. Writes go through
:func:`aidetect.fileio.atomic_writer`; read-modify-write cycles (``enroll``,
``gallery remove``) go through :func:`update_gallery`, which holds a lock beside
the file so concurrent enrollments all land.

No torch here: the gallery is plain numpy so it can be inspected and searched
without the model stack.
"""

from aidetect.gallery.locking import update_gallery
from aidetect.gallery.storage import GALLERY_FORMAT, GALLERY_SCHEMA_VERSION, AddResult, Gallery

__all__ = ["GALLERY_FORMAT", "GALLERY_SCHEMA_VERSION", "AddResult", "Gallery", "update_gallery"]
