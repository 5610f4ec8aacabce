"""Errors a user can act on.

Every :class:`AidetectError` carries one sentence that names the file or the
option at fault and the fix. The CLI prints it on one line (the traceback only
with ``AIDETECT_DEBUG=1``); library callers can catch it.
"""


class AidetectError(Exception):
    """A known failure with a one-sentence explanation for the user."""


class ImageReadError(AidetectError):
    """An image file that cannot be decoded (missing, truncated, not an image, too large)."""


class UnsafeFileError(AidetectError):
    """A weights or gallery file that is not in a safe format (e.g. a pickle)."""


class IncompatibleGalleryError(AidetectError):
    """A gallery made by another model than the one in use."""


class CorruptFileError(AidetectError):
    """A model directory or gallery whose files are inconsistent, truncated or edited."""
