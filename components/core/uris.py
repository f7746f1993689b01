"""Paths and URIs: whether a location is on this machine.

A location is a plain path, or a URI with a file-system scheme (`gs://...`, `s3://...`, also
`file://...`) that tf.io.gfile and TFX's fileio read. `is_remote` is the one test of "not on this
machine" (what a local check cannot look at: gs://, s3://, but not file://); `has_scheme` is the
test of "written as a URI" (file:// included), for the places that must treat a URI's slashes and
prefix as they are (joining, making absolute, passing it on unchanged).
"""

from __future__ import annotations

SCHEME_SEPARATOR = "://"
LOCAL_SCHEME = "file://"


def has_scheme(location: str) -> bool:
    """Whether `location` is written as a URI with a scheme (gs://, s3://, file://)."""
    return SCHEME_SEPARATOR in location


def is_remote(location: str) -> bool:
    """Whether `location` is read through a file system other than this machine's: a URI with a
    scheme other than file:// (gs://, s3://)."""
    return has_scheme(location) and not location.startswith(LOCAL_SCHEME)
